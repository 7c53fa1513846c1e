package optimize

import (
	"fmt"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/model"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// graph wraps one graph of a model (the main graph or a subgraph) with the
// indexes that passes query: producer and consumers of every value,
// initializers, graph inputs and outputs, and what value_info knows about
// types and shapes. Passes edit the proto only through the edit API
// (graph_edit.go), which keeps the indexes (graph_index.go) current; a full
// rebuild happens on first use and after edits that touch nodes with
// subgraphs. Constants and their memory policy are in graph_values.go, type
// and shape queries in types.go. This file holds the scopes: a subgraph's
// view of the names its enclosing graphs define.
type graph struct {
	m     *model.Model
	g     *onnxpb.GraphProto
	opset int64
	// parent is the enclosing graph (nil for the main graph), whose names,
	// and its parent's, are visible here; where prefixes error messages
	// about a subgraph.
	parent *graph
	// attr and owner name the attribute and node holding a subgraph, for
	// where.
	attr  string
	owner *onnxpb.NodeProto
	// outerSeen memoizes outerDefines.
	outerSeen map[string]bool
	// refs caches outerRefs, shared by every scope of a run.
	refs *refsCache

	dirty     bool
	producer  map[string]*onnxpb.NodeProto
	consumers map[string][]*onnxpb.NodeProto
	// implicit holds values that a subgraph of some node reads from this graph.
	implicit map[string]bool
	inits    map[string]*onnxpb.TensorProto
	inputs   map[string]bool
	outputs  map[string]bool
	info     map[string]*onnxpb.ValueInfoProto

	// values caches decoded constants by initializer proto.
	values  map[*onnxpb.TensorProto]*tensor.Tensor
	removed map[*onnxpb.NodeProto]bool
	// pending says removed or inserted nodes wait for compact.
	pending bool
	inserts map[*onnxpb.NodeProto][]*onnxpb.NodeProto
	names   map[string]bool
	seq     int
	// spillErr is the last failure to spill a computed initializer; the
	// value stayed in memory.
	spillErr error
	// at is the node a pass's walk yielded last (walk), which a panic's
	// error names (safeRun).
	at *onnxpb.NodeProto
}

func newGraph(m *model.Model) *graph {
	return newScope(m, m.Graph(), nil, &refsCache{m: map[*onnxpb.GraphProto][]string{}})
}

func newScope(m *model.Model, gp *onnxpb.GraphProto, parent *graph, refs *refsCache) *graph {
	return &graph{m: m, g: gp, opset: m.Opset(""), dirty: true, parent: parent, refs: refs,
		values: map[*onnxpb.TensorProto]*tensor.Tensor{}, removed: map[*onnxpb.NodeProto]bool{},
		inserts: map[*onnxpb.NodeProto][]*onnxpb.NodeProto{}}
}

// refsCache holds the outer names of each subgraph (model.OuterNames),
// computed once per graph and
// reused by the indexes and checks of every enclosing graph: recomputing
// them at every level made nested Ifs cost depth^3 (depth 400: minutes).
// An entry is dropped when a pass has run on its graph (runPass); the
// entries of enclosing graphs are dropped after their own pass, which
// always comes later.
type refsCache struct {
	m map[*onnxpb.GraphProto][]string
}

func (c *refsCache) forget(gp *onnxpb.GraphProto) { delete(c.m, gp) }

// outerRefs is the cached model.OuterNames(sg): the values sg and the graphs
// nested in it read from enclosing scopes.
func (g *graph) outerRefs(sg *onnxpb.GraphProto) []string {
	if r, ok := g.refs.m[sg]; ok {
		return r
	}
	r := model.OuterNamesWith(sg, g.outerRefs)
	g.refs.m[sg] = r
	return r
}

// where prefixes messages about a subgraph with the path to it, built only
// when a message needs it (a prefix per level made deep nesting quadratic).
func (g *graph) where() string {
	if g.parent == nil {
		return ""
	}
	return fmt.Sprintf("%ssubgraph %s of %s: ", g.parent.where(), g.attr, nodeDesc(g.owner))
}

// outerDefines reports whether an enclosing graph defines name. Each level
// remembers its answers, so that a name read at every level of a deep
// nesting costs one lookup per level, not one walk.
func (g *graph) outerDefines(name string) bool {
	if g.parent == nil {
		return false
	}
	if v, ok := g.outerSeen[name]; ok {
		return v
	}
	v := g.parent.definesLocally(name) || g.parent.outerDefines(name)
	if g.outerSeen == nil {
		g.outerSeen = map[string]bool{}
	}
	g.outerSeen[name] = v
	return v
}

// definesLocally reports whether g itself (not an enclosing graph) defines
// name: an initializer, a graph input or a node output.
func (g *graph) definesLocally(name string) bool {
	g.index()
	return g.inits[name] != nil || g.inputs[name] || g.producer[name] != nil
}

// subgraphs returns the graphs of n's attributes, each as a scope whose outer
// names are everything visible in g. Their own inputs play the part of graph
// inputs and their outputs of graph outputs; values of enclosing graphs are
// read like graph inputs (never constants, never renamed).
func (g *graph) subgraphs() []*graph {
	var subs []*graph
	for _, n := range g.g.GetNode() {
		for _, a := range n.GetAttribute() {
			for _, sg := range model.Subgraphs(a) {
				sub := newScope(g.m, sg, g, g.refs)
				sub.attr, sub.owner = a.GetName(), n
				subs = append(subs, sub)
			}
		}
	}
	return subs
}

// outerOwner returns the enclosing graph whose constant initializer name
// refers to in g, or nil: name must not be defined in g (nor in a graph
// between), and in the graph that defines it it must be a constant
// initializer (not a graph input that can be overridden).
func (g *graph) outerOwner(name string) *graph {
	for s := g; s.parent != nil; s = s.parent {
		if s.definesLocally(name) {
			return nil
		}
		if s.parent.initializer(name) != nil {
			return s.parent
		}
	}
	return nil
}

// outerConstant returns the decoded value of the outer constant that name
// refers to in g (see outerOwner), or nil. Only reading is allowed: the value
// belongs to the enclosing graph.
func (g *graph) outerConstant(name string) *tensor.Tensor {
	if p := g.outerOwner(name); p != nil {
		return p.constant(name)
	}
	return nil
}
