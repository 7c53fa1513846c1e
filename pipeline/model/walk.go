package model

import (
	"path"
	"sort"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
)

// tensorVisit is one TensorProto found by walkTensors. initializer is true for
// graph initializers (of the main graph or of a subgraph held in an If, Loop or
// Scan attribute): the tensors that save_as_external_data may move out.
type tensorVisit struct {
	tp          *onnxpb.TensorProto
	initializer bool
}

// walkTensors calls fn on every TensorProto of the model in a fixed order: for
// each graph, its initializers, its sparse initializers, then node by node the
// tensors and subgraphs of each attribute, depth first; then the training
// graphs and the functions. The order of the initializers is onnx's
// (external_data_helper), so data files are laid out the same way.
func walkTensors(mp *onnxpb.ModelProto, fn func(tensorVisit)) {
	walkGraph(mp.GetGraph(), fn)
	for _, ti := range mp.GetTrainingInfo() {
		// Training graphs are not the inference graph: their tensors stay inline.
		walkGraphAs(ti.GetInitialization(), false, fn)
		walkGraphAs(ti.GetAlgorithm(), false, fn)
	}
	for _, f := range mp.GetFunctions() {
		walkNodes(f.GetNode(), false, fn)
		for _, a := range f.GetAttributeProto() {
			walkAttribute(a, false, fn)
		}
	}
}

func walkGraph(g *onnxpb.GraphProto, fn func(tensorVisit)) { walkGraphAs(g, true, fn) }

func walkGraphAs(g *onnxpb.GraphProto, init bool, fn func(tensorVisit)) {
	if g == nil {
		return
	}
	for _, tp := range g.GetInitializer() {
		fn(tensorVisit{tp, init})
	}
	for _, sp := range g.GetSparseInitializer() {
		walkSparse(sp, fn)
	}
	walkNodes(g.GetNode(), init, fn)
}

func walkNodes(nodes []*onnxpb.NodeProto, init bool, fn func(tensorVisit)) {
	for _, n := range nodes {
		for _, a := range n.GetAttribute() {
			walkAttribute(a, init, fn)
		}
	}
}

// walkAttribute visits an attribute's tensors (never initializers: a
// Constant's value stays inline) and its subgraphs (whose initializers are).
func walkAttribute(a *onnxpb.AttributeProto, init bool, fn func(tensorVisit)) {
	if a.GetT() != nil {
		fn(tensorVisit{a.GetT(), false})
	}
	for _, tp := range a.GetTensors() {
		fn(tensorVisit{tp, false})
	}
	if a.GetSparseTensor() != nil {
		walkSparse(a.GetSparseTensor(), fn)
	}
	for _, sp := range a.GetSparseTensors() {
		walkSparse(sp, fn)
	}
	for _, g := range Subgraphs(a) {
		walkGraphAs(g, init, fn)
	}
}

func walkSparse(sp *onnxpb.SparseTensorProto, fn func(tensorVisit)) {
	if sp.GetValues() != nil {
		fn(tensorVisit{sp.GetValues(), false})
	}
	if sp.GetIndices() != nil {
		fn(tensorVisit{sp.GetIndices(), false})
	}
}

// ExternalLocations lists, cleaned, sorted and once each, the external data
// files that the model's tensors point to: in every graph, subgraph, attribute,
// training graph and function. A tensor whose external data names no location
// is left out (loading it fails with an error naming it).
func ExternalLocations(mp *onnxpb.ModelProto) []string {
	seen := map[string]bool{}
	walkTensors(mp, func(v tensorVisit) {
		if !IsExternal(v.tp) {
			return
		}
		loc := ""
		for _, e := range v.tp.GetExternalData() {
			if e.GetKey() == "location" {
				loc = e.GetValue()
			}
		}
		if loc != "" {
			seen[path.Clean(loc)] = true
		}
	})
	locs := make([]string, 0, len(seen))
	for l := range seen {
		locs = append(locs, l)
	}
	sort.Strings(locs)
	return locs
}
