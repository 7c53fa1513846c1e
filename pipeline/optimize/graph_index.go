package optimize

import (
	"iter"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/model"
)

// The indexes of a graph: who produces and who reads each value, and what
// the graph defines. Reads rebuild them when an edit made them stale;
// edits keep them current (graph_edit.go).

func (g *graph) touch() { g.dirty = true }

// index rebuilds the indexes if an edit made them stale.
func (g *graph) index() {
	if !g.dirty {
		return
	}
	g.compact()
	g.dirty = false
	gp := g.g
	g.producer = map[string]*onnxpb.NodeProto{}
	g.consumers = map[string][]*onnxpb.NodeProto{}
	g.implicit = map[string]bool{}
	g.inits = map[string]*onnxpb.TensorProto{}
	g.inputs = map[string]bool{}
	g.outputs = map[string]bool{}
	g.info = map[string]*onnxpb.ValueInfoProto{}
	g.names = map[string]bool{}
	for _, t := range gp.GetInitializer() {
		g.inits[t.GetName()] = t
		g.names[t.GetName()] = true
	}
	for _, vi := range gp.GetValueInfo() {
		g.info[vi.GetName()] = vi
	}
	for _, vi := range gp.GetInput() {
		g.inputs[vi.GetName()] = true
		g.info[vi.GetName()] = vi
		g.names[vi.GetName()] = true
	}
	for _, vi := range gp.GetOutput() {
		g.outputs[vi.GetName()] = true
		g.info[vi.GetName()] = vi
	}
	for _, n := range gp.GetNode() {
		g.linkIO(n)
		for _, a := range n.GetAttribute() {
			for _, sg := range model.Subgraphs(a) {
				for _, name := range g.outerRefs(sg) {
					g.implicit[name] = true
					g.consumers[name] = append(g.consumers[name], n)
				}
			}
		}
	}
}

// nodes returns the current node list; edits during a walk over it do not
// change it (removed nodes stay in it until the next call: check g.removed).
func (g *graph) nodes() []*onnxpb.NodeProto {
	g.compact()
	return append([]*onnxpb.NodeProto{}, g.g.GetNode()...)
}

// walk yields the current nodes, as nodes does, recording each in g.at
// before the pass looks at it, so that a panic names the node it happened
// at. Passes walk the graph through it.
func (g *graph) walk() iter.Seq[*onnxpb.NodeProto] {
	return func(yield func(*onnxpb.NodeProto) bool) {
		for _, n := range g.nodes() {
			g.at = n
			if !yield(n) {
				break
			}
		}
		// Not deferred: a panic must leave g.at for safeRun to read.
		g.at = nil
	}
}

func (g *graph) producerOf(name string) *onnxpb.NodeProto { g.index(); return g.producer[name] }

func (g *graph) consumersOf(name string) []*onnxpb.NodeProto { g.index(); return g.consumers[name] }

func (g *graph) isGraphOutput(name string) bool { g.index(); return g.outputs[name] }

func (g *graph) usedBySubgraph(name string) bool { g.index(); return g.implicit[name] }

// producesGraphOutput reports whether any output of n is a graph output.
func (g *graph) producesGraphOutput(n *onnxpb.NodeProto) bool {
	for _, out := range n.GetOutput() {
		if g.isGraphOutput(out) {
			return true
		}
	}
	return false
}

// singleUse reports whether the value is read by exactly one node, by no
// subgraph, and is not a graph output: the conditions for fusing its
// producer into its consumer.
func (g *graph) singleUse(name string) bool {
	return len(g.consumersOf(name)) == 1 && !g.implicit[name] && !g.outputs[name]
}

// unlink removes one occurrence of n from the readers of name.
func (g *graph) unlink(name string, n *onnxpb.NodeProto) {
	cs := g.consumers[name]
	for i, c := range cs {
		if c == n {
			g.consumers[name] = append(cs[:i:i], cs[i+1:]...)
			break
		}
	}
	if len(g.consumers[name]) == 0 {
		delete(g.consumers, name)
	}
}

// link records a new node's inputs and outputs in the indexes.
func (g *graph) link(n *onnxpb.NodeProto) {
	g.linkIO(n)
	for _, a := range n.GetAttribute() {
		if len(model.Subgraphs(a)) > 0 {
			g.touch() // implicit reads: rebuild rather than track
		}
	}
}

// linkIO records a node's name, explicit inputs and outputs in the indexes.
func (g *graph) linkIO(n *onnxpb.NodeProto) {
	g.names[n.GetName()] = true
	for _, in := range n.GetInput() {
		if in != "" {
			g.consumers[in] = append(g.consumers[in], n)
		}
	}
	for _, out := range n.GetOutput() {
		if out != "" {
			g.producer[out] = n
			g.names[out] = true
		}
	}
}
