package optimize

import (
	"fmt"
	"iter"
	"strconv"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/model"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// graph wraps one graph of a model (the main graph or a subgraph) with the
// indexes that passes query: producer and consumers of every value,
// initializers, graph inputs and outputs, and what value_info knows about
// types and shapes. Passes edit the proto only through the helpers below,
// which keep the indexes current; a full rebuild happens on first use and
// after edits that touch nodes with subgraphs.
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

// initializer returns the initializer named name if it is a constant: an
// initializer that is also a graph input can be overridden at run time, so
// it is not one.
func (g *graph) initializer(name string) *onnxpb.TensorProto {
	g.index()
	if g.inputs[name] {
		return nil
	}
	return g.inits[name]
}

// constant returns the decoded value of a constant initializer, or nil if name
// is not one or its data cannot be decoded.
func (g *graph) constant(name string) *tensor.Tensor {
	tp := g.initializer(name)
	if tp == nil {
		return nil
	}
	if t, ok := g.values[tp]; ok {
		return t
	}
	t, err := g.m.Tensor(tp)
	if err != nil {
		t = nil
	}
	g.values[tp] = t
	return t
}

// small returns the value of a constant of at most max elements, judged from
// its dims before anything is decoded: rules that look for a scalar or a
// shape must not decode (or read from external data) every large weight
// they meet.
func (g *graph) small(name string, max int64) *tensor.Tensor {
	tp := g.initializer(name)
	if tp == nil {
		return nil
	}
	if n := tensor.NumElements(tp.GetDims()); n < 0 || n > max {
		return nil
	}
	return g.constant(name)
}

// maxShapeElems bounds the constants read as shapes, axes or indices.
const maxShapeElems = 1 << 12

// scalarConst returns the single value of a constant with one element.
func (g *graph) scalarConst(name string) (float64, bool) {
	t := g.small(name, 1)
	if t == nil || t.Len() != 1 {
		return 0, false
	}
	return t.Float64At(0), true
}

// elemType is the element type of a value, from initializers, value_info,
// graph inputs and outputs, or the `to` of a Cast producing it.
func (g *graph) elemType(name string) tensor.DType {
	g.index()
	if tp := g.inits[name]; tp != nil {
		return tensor.DType(tp.GetDataType())
	}
	if vi := g.info[name]; vi != nil {
		if tt := vi.GetType().GetTensorType(); tt != nil && tt.GetElemType() != 0 {
			return tensor.DType(tt.GetElemType())
		}
	}
	if p := g.producer[name]; p != nil && isOp(p, "Cast") {
		if to := model.AttrsOf(p).Get("to"); to != nil {
			return tensor.DType(to.GetI())
		}
	}
	return tensor.Undefined
}

// shape returns a value's dims (-1 for a dim whose value is unknown) and
// whether its rank is known.
func (g *graph) shape(name string) ([]int64, bool) {
	g.index()
	if tp := g.inits[name]; tp != nil {
		return append([]int64{}, tp.GetDims()...), true
	}
	vi := g.info[name]
	if vi == nil {
		return nil, false
	}
	tt := vi.GetType().GetTensorType()
	if tt == nil || tt.GetShape() == nil {
		return nil, false
	}
	var dims []int64
	for _, d := range tt.GetShape().GetDim() {
		if d.Value != nil {
			if v, ok := d.Value.(*onnxpb.TensorShapeProto_Dimension_DimValue); ok && v.DimValue >= 0 {
				dims = append(dims, v.DimValue)
				continue
			}
		}
		dims = append(dims, -1)
	}
	if dims == nil {
		dims = []int64{}
	}
	return dims, true
}

// staticShape returns a value's dims when all are known.
func (g *graph) staticShape(name string) ([]int64, bool) {
	dims, ok := g.shape(name)
	if !ok {
		return nil, false
	}
	for _, d := range dims {
		if d < 0 {
			return nil, false
		}
	}
	return dims, true
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

// bigValue is the size in bytes from which a computed initializer is not kept
// decoded beside its proto, and leaves memory for a temporary file when the
// model allows it (model.EnableSpill): torch exports fold into a transposed
// copy of every MatMul weight, which would otherwise hold the model's size in
// memory two or three times over.
const bigValue = 1 << 20

// addInitializer adds t as an initializer named name, replacing one of that name.
func (g *graph) addInitializer(name string, t *tensor.Tensor) {
	tp := t.Proto(name)
	if len(tp.RawData) < bigValue {
		g.values[tp] = t
	} else if _, err := g.m.Spill(tp); err != nil {
		// Spilling only saves memory: without it the value stays inline.
		g.spillErr = err
	}
	g.addInitializerProto(tp)
}

// release forgets the decoded values of the initializers among names that
// are large (they are decoded again if ever needed) or that nothing reads any
// more, so that a folded weight's input is not held in memory until the end
// of the pass.
func (g *graph) release(names []string) {
	for _, name := range names {
		tp := g.initializer(name)
		if tp == nil {
			continue
		}
		if t := g.values[tp]; t == nil || t.DType.RawSize(t.Len()) >= bigValue || len(g.consumersOf(name)) == 0 {
			delete(g.values, tp)
		}
	}
}

// dropUnused removes the initializers among names that nothing reads any
// more (no node, no subgraph, not a graph output; graph inputs stay), as
// removeUnusedInitializers does at the end, but at once: a weight whose
// Transpose was folded must not stay in memory beside its transposed copy
// until the optimizer finishes.
func (g *graph) dropUnused(names []string) {
	for _, name := range names {
		tp := g.initializer(name)
		if tp == nil || len(g.consumersOf(name)) > 0 || g.isGraphOutput(name) || g.usedBySubgraph(name) {
			continue
		}
		delete(g.values, tp)
		delete(g.inits, name)
		for i, t := range g.g.Initializer {
			if t == tp {
				g.g.Initializer = append(g.g.Initializer[:i:i], g.g.Initializer[i+1:]...)
				break
			}
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

// The edits below keep the indexes up to date, so that a rewrite costs time
// in proportion to what it touches, not to the graph's size. Removed nodes
// and inserted ones reach the node list when compact runs (at the start of
// each walk over the nodes, and after each pass).

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

// baseName is a stem for names derived from n: its name, else its first output.
func baseName(n *onnxpb.NodeProto) string {
	if n.GetName() != "" {
		return n.GetName()
	}
	return outputAt(n, 0)
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

// input returns n's input i, or "" if it has fewer.
func input(n *onnxpb.NodeProto, i int) string {
	if i < len(n.GetInput()) {
		return n.GetInput()[i]
	}
	return ""
}

// isOp reports whether n is the ONNX-domain operator op.
func isOp(n *onnxpb.NodeProto, op string) bool {
	return n != nil && n.GetOpType() == op && model.IsDefaultDomain(n.GetDomain())
}

func nodeDesc(n *onnxpb.NodeProto) string {
	return fmt.Sprintf("node %q (%s)", n.GetName(), n.GetOpType())
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
