package optimize

import (
	"strconv"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/model"
)

// Edits of a graph. They keep the indexes (graph_index.go) up to date, so that a rewrite costs time
// in proportion to what it touches, not to the graph's size. Removed nodes
// and inserted ones reach the node list when compact runs (at the start of
// each walk over the nodes, and after each pass).

// setInput makes input i of n read name.
func (g *graph) setInput(n *onnxpb.NodeProto, i int, name string) {
	g.index()
	for len(n.Input) <= i {
		n.Input = append(n.Input, "")
	}
	if old := n.Input[i]; old != "" {
		g.unlink(old, n)
	}
	n.Input[i] = name
	if name != "" {
		g.consumers[name] = append(g.consumers[name], n)
	}
}

// setInputs replaces all inputs of n.
func (g *graph) setInputs(n *onnxpb.NodeProto, names ...string) {
	g.index()
	for _, old := range n.Input {
		if old != "" {
			g.unlink(old, n)
		}
	}
	n.Input = append([]string{}, names...)
	for _, name := range names {
		if name != "" {
			g.consumers[name] = append(g.consumers[name], n)
		}
	}
}

// setOutput makes output i of n be name.
func (g *graph) setOutput(n *onnxpb.NodeProto, i int, name string) {
	g.index()
	if old := n.Output[i]; old != "" && g.producer[old] == n {
		delete(g.producer, old)
	}
	n.Output[i] = name
	if name != "" {
		g.producer[name] = n
		g.names[name] = true
	}
}

// removeNodes drops nodes from the graph.
func (g *graph) removeNodes(ns ...*onnxpb.NodeProto) {
	g.index()
	for _, n := range ns {
		if g.removed[n] {
			continue
		}
		g.removed[n] = true
		g.pending = true
		for _, in := range n.GetInput() {
			if in != "" {
				g.unlink(in, n)
			}
		}
		for _, out := range n.GetOutput() {
			if out != "" && g.producer[out] == n {
				delete(g.producer, out)
			}
		}
		for _, a := range n.GetAttribute() {
			if len(model.Subgraphs(a)) > 0 {
				g.touch()
			}
		}
	}
}

// insertBefore inserts ns before the node at, which must be in the graph.
func (g *graph) insertBefore(at *onnxpb.NodeProto, ns ...*onnxpb.NodeProto) {
	g.index()
	g.inserts[at] = append(g.inserts[at], ns...)
	g.pending = true
	for _, n := range ns {
		g.link(n)
	}
}

// replaceNode puts repl where old was, keeping topological order when repl's
// inputs are all defined before old.
func (g *graph) replaceNode(old, repl *onnxpb.NodeProto) {
	g.insertBefore(old, repl)
	g.removeNodes(old)
}

// compact applies pending removals and insertions to the node list.
func (g *graph) compact() {
	if !g.pending {
		return
	}
	g.pending = false
	var out []*onnxpb.NodeProto
	var emit func(n *onnxpb.NodeProto)
	emit = func(n *onnxpb.NodeProto) {
		for _, x := range g.inserts[n] {
			emit(x)
		}
		if !g.removed[n] {
			out = append(out, n)
		}
	}
	for _, n := range g.g.Node {
		emit(n)
	}
	g.g.Node = out
	g.inserts = map[*onnxpb.NodeProto][]*onnxpb.NodeProto{}
}

// replaceUses makes every node that reads old read repl instead. Callers check
// that old is neither a graph output nor read by a subgraph.
func (g *graph) replaceUses(old, repl string) {
	g.index()
	users := g.consumers[old]
	delete(g.consumers, old)
	done := map[*onnxpb.NodeProto]bool{}
	for _, n := range users {
		if !done[n] {
			done[n] = true
			for i, in := range n.Input {
				if in == old {
					n.Input[i] = repl
				}
			}
		}
		// One entry per occurrence of old, each now an occurrence of repl.
		g.consumers[repl] = append(g.consumers[repl], n)
	}
}

// bypass removes node n, which passes its input in through to its only used
// output out unchanged in value. If out is a graph output, the producer of in
// is made to produce out instead, so that graph output names stay stable; it
// reports false and changes nothing when neither way is safe.
func (g *graph) bypass(n *onnxpb.NodeProto, in, out string) bool {
	if g.usedBySubgraph(out) || g.usedBySubgraph(in) && g.isGraphOutput(out) {
		return false
	}
	if !g.isGraphOutput(out) {
		g.replaceUses(out, in)
		g.removeNodes(n)
		return true
	}
	p := g.producerOf(in)
	if p == nil || g.isGraphOutput(in) || len(g.consumersOf(in)) != 1 {
		return false
	}
	g.removeNodes(n)
	for i, o := range p.Output {
		if o == in {
			g.setOutput(p, i, out)
		}
	}
	return true
}

// fresh returns a name for a new value or node that nothing in the graph uses.
func (g *graph) fresh(base string) string {
	g.index()
	for {
		g.seq++
		name := base + "_" + strconv.Itoa(g.seq)
		if !g.names[name] && !g.outerDefines(name) {
			g.names[name] = true
			return name
		}
	}
}

// addInitializerProto adds tp as an initializer, replacing one of its name.
func (g *graph) addInitializerProto(tp *onnxpb.TensorProto) {
	g.index()
	name := tp.GetName()
	if old := g.inits[name]; old != nil {
		for i, t := range g.g.Initializer {
			if t == old {
				g.g.Initializer[i] = tp
				break
			}
		}
	} else {
		g.g.Initializer = append(g.g.Initializer, tp)
	}
	g.inits[name] = tp
	g.names[name] = true
}

// setAttr sets n's attribute name through set, adding one of type typ when
// n has none of that name.
func setAttr(n *onnxpb.NodeProto, name string, typ onnxpb.AttributeProto_AttributeType, set func(*onnxpb.AttributeProto)) {
	a := model.AttrsOf(n).Get(name)
	if a == nil {
		a = &onnxpb.AttributeProto{Name: &name, Type: &typ}
		n.Attribute = append(n.Attribute, a)
	}
	set(a)
}

// setAttrInt sets or adds an integer attribute.
func setAttrInt(n *onnxpb.NodeProto, name string, v int64) {
	setAttr(n, name, onnxpb.AttributeProto_INT, func(a *onnxpb.AttributeProto) { a.I = &v })
}

// setAttrInts sets or adds an ints attribute.
func setAttrInts(n *onnxpb.NodeProto, name string, v []int64) {
	setAttr(n, name, onnxpb.AttributeProto_INTS, func(a *onnxpb.AttributeProto) { a.Ints = v })
}

// setAttrFloat sets or adds a float attribute.
func setAttrFloat(n *onnxpb.NodeProto, name string, v float32) {
	setAttr(n, name, onnxpb.AttributeProto_FLOAT, func(a *onnxpb.AttributeProto) { a.F = &v })
}
