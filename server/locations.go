package server

import (
	"path"
	"sort"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
)

// externalLocations lists, sorted and cleaned, the external data files that the
// model's tensors point to, in every graph, subgraph, attribute and function.
func externalLocations(mp *onnxpb.ModelProto) []string {
	seen := map[string]bool{}
	var tensor func(*onnxpb.TensorProto)
	var graph func(*onnxpb.GraphProto)
	var nodes func([]*onnxpb.NodeProto)
	tensor = func(t *onnxpb.TensorProto) {
		if t.GetDataLocation() != onnxpb.TensorProto_EXTERNAL {
			return
		}
		for _, e := range t.GetExternalData() {
			if e.GetKey() == "location" && e.GetValue() != "" {
				seen[path.Clean(e.GetValue())] = true
			}
		}
	}
	sparse := func(s *onnxpb.SparseTensorProto) {
		tensor(s.GetValues())
		tensor(s.GetIndices())
	}
	nodes = func(ns []*onnxpb.NodeProto) {
		for _, n := range ns {
			for _, a := range n.GetAttribute() {
				tensor(a.GetT())
				for _, t := range a.GetTensors() {
					tensor(t)
				}
				if a.GetSparseTensor() != nil {
					sparse(a.GetSparseTensor())
				}
				for _, s := range a.GetSparseTensors() {
					sparse(s)
				}
				if a.GetG() != nil {
					graph(a.GetG())
				}
				for _, g := range a.GetGraphs() {
					graph(g)
				}
			}
		}
	}
	graph = func(g *onnxpb.GraphProto) {
		for _, t := range g.GetInitializer() {
			tensor(t)
		}
		for _, s := range g.GetSparseInitializer() {
			sparse(s)
		}
		nodes(g.GetNode())
	}
	if mp.GetGraph() != nil {
		graph(mp.GetGraph())
	}
	for _, f := range mp.GetFunctions() {
		nodes(f.GetNode())
	}
	for _, ti := range mp.GetTrainingInfo() {
		if ti.GetInitialization() != nil {
			graph(ti.GetInitialization())
		}
		if ti.GetAlgorithm() != nil {
			graph(ti.GetAlgorithm())
		}
	}
	out := make([]string, 0, len(seen))
	for l := range seen {
		out = append(out, l)
	}
	sort.Strings(out)
	return out
}
