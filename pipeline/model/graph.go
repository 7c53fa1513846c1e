package model

import (
	"fmt"
	"slices"
	"strings"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
)

// Index answers, for one graph, which node produces a value, which nodes
// consume it and which initializer holds it. It is a snapshot: rebuild it after
// changing the graph.
type Index struct {
	producer  map[string]int
	consumers map[string][]int
	inits     map[string]*onnxpb.TensorProto
	inputs    map[string]bool
	outputs   map[string]bool
}

// NewIndex indexes g's nodes, initializers, inputs and outputs. A node consumes
// a value when it names it as an input or when one of its subgraphs (If, Loop,
// Scan bodies) reads it from the enclosing scope: removing or renaming the value
// affects both.
func NewIndex(g *onnxpb.GraphProto) *Index {
	x := &Index{
		producer:  map[string]int{},
		consumers: map[string][]int{},
		inits:     map[string]*onnxpb.TensorProto{},
		inputs:    map[string]bool{},
		outputs:   map[string]bool{},
	}
	for i, n := range g.GetNode() {
		for _, o := range n.GetOutput() {
			if _, dup := x.producer[o]; o != "" && !dup {
				x.producer[o] = i
			}
		}
		for _, in := range nodeDeps(n) {
			if c := x.consumers[in]; len(c) == 0 || c[len(c)-1] != i {
				x.consumers[in] = append(c, i)
			}
		}
	}
	for _, tp := range g.GetInitializer() {
		if _, dup := x.inits[tp.GetName()]; !dup {
			x.inits[tp.GetName()] = tp
		}
	}
	for _, v := range g.GetInput() {
		x.inputs[v.GetName()] = true
	}
	for _, v := range g.GetOutput() {
		x.outputs[v.GetName()] = true
	}
	return x
}

// Producer returns the index of the node that outputs name, or -1 when no node
// does (a graph input, an initializer, an outer-scope value or nothing).
func (x *Index) Producer(name string) int {
	if i, ok := x.producer[name]; ok {
		return i
	}
	return -1
}

// Consumers returns the indexes of the nodes that read name, directly or
// through a subgraph, in increasing order. The slice is the Index's own.
func (x *Index) Consumers(name string) []int { return x.consumers[name] }

// Initializer returns the initializer named name, or nil.
func (x *Index) Initializer(name string) *onnxpb.TensorProto { return x.inits[name] }

// IsInput reports whether name is an input of the graph.
func (x *Index) IsInput(name string) bool { return x.inputs[name] }

// IsOutput reports whether name is an output of the graph.
func (x *Index) IsOutput(name string) bool { return x.outputs[name] }

// nodeDeps lists the values n reads: its non-empty inputs, then its implicit
// inputs, without duplicates.
func nodeDeps(n *onnxpb.NodeProto) []string { return freeNames{}.deps(n) }

// ImplicitInputs returns the values that n's subgraphs read from the scopes
// around n, in order of first use.
func ImplicitInputs(n *onnxpb.NodeProto) []string { return freeNames{}.implicit(n) }

// OuterNames returns the values that g, or a graph nested in it, reads but does
// not define: the names it takes from enclosing scopes, in order of first use.
func OuterNames(g *onnxpb.GraphProto) []string { return freeNames{}.of(g) }

// definedNames is the set of values g defines before its first node: inputs
// and initializers.
func definedNames(g *onnxpb.GraphProto) map[string]bool {
	d := map[string]bool{}
	for _, v := range g.GetInput() {
		d[v.GetName()] = true
	}
	for _, tp := range g.GetInitializer() {
		d[tp.GetName()] = true
	}
	for _, sp := range g.GetSparseInitializer() {
		d[sp.GetValues().GetName()] = true
	}
	return d
}

// nodeLabel names a node in error messages: its name, or its position when it
// has none.
func nodeLabel(n *onnxpb.NodeProto, i int) string {
	if n.GetName() != "" {
		return fmt.Sprintf("node %q (%s)", n.GetName(), n.GetOpType())
	}
	return fmt.Sprintf("node #%d (%s)", i, n.GetOpType())
}

// scope is the chain of names visible in a graph: its own, then its parents'.
type scope struct {
	names  map[string]bool
	parent *scope
}

func (s *scope) has(name string) bool {
	for ; s != nil; s = s.parent {
		if s.names[name] {
			return true
		}
	}
	return false
}

// CheckTopological checks that g and its subgraphs are in topological order
// and in single-assignment form: every node input is a graph input, an
// initializer, an output of an earlier node or (in a subgraph) a value of an
// enclosing scope; no value is produced twice in a graph; every graph output
// is defined. The error wraps ErrInvalid and names the node and value.
func CheckTopological(g *onnxpb.GraphProto) error { return checkTopo(g, nil) }

func checkTopo(g *onnxpb.GraphProto, parent *scope) error {
	s := &scope{names: definedNames(g), parent: parent}
	inGraph := ""
	if parent != nil {
		inGraph = fmt.Sprintf(" in graph %q", g.GetName())
	}
	for i, n := range g.GetNode() {
		for _, in := range n.GetInput() {
			if in != "" && !s.has(in) {
				return fmt.Errorf("%w: %s%s: input %q is not defined before the node", ErrInvalid, nodeLabel(n, i), inGraph, in)
			}
		}
		for _, a := range n.GetAttribute() {
			for _, sub := range Subgraphs(a) {
				if err := checkTopo(sub, s); err != nil {
					return fmt.Errorf("%s%s, attribute %s: %w", nodeLabel(n, i), inGraph, a.GetName(), err)
				}
			}
		}
		for _, o := range n.GetOutput() {
			if o == "" {
				continue
			}
			if s.names[o] {
				return fmt.Errorf("%w: %s%s: output %q is already defined in the graph", ErrInvalid, nodeLabel(n, i), inGraph, o)
			}
			s.names[o] = true
		}
	}
	for _, v := range g.GetOutput() {
		if !s.has(v.GetName()) {
			return fmt.Errorf("%w: graph output %q%s is not defined", ErrInvalid, v.GetName(), inGraph)
		}
	}
	return nil
}

// SortTopologically reorders the nodes of g and of every graph nested in it
// (If, Loop and Scan bodies) so that each node comes after the nodes producing
// its inputs, including the values its subgraphs read from enclosing scopes.
// ONNX Runtime sorts a graph when it loads it, so an input it accepts in any
// order is accepted here too; the model written afterwards is sorted. The order
// is stable (see TopologicalOrder). A cycle is an error wrapping ErrInvalid that
// names the nodes on it and the graph; on error nothing is reordered.
func SortTopologically(g *onnxpb.GraphProto) error {
	type sorted struct {
		g     *onnxpb.GraphProto
		order []*onnxpb.NodeProto
	}
	var all []sorted
	free := freeNames{}
	// visit returns the location of an error apart, so that the path of a
	// graph nested d deep is built once, on error, not at every level.
	var visit func(g *onnxpb.GraphProto) (where string, err error)
	visit = func(g *onnxpb.GraphProto) (string, error) {
		order, err := topologicalOrder(g, free)
		if err != nil {
			return "", err
		}
		all = append(all, sorted{g, order})
		for i, n := range g.GetNode() {
			for _, a := range n.GetAttribute() {
				for _, sub := range Subgraphs(a) {
					if where, err := visit(sub); err != nil {
						return fmt.Sprintf("%s, attribute %s, graph %q: %s", nodeLabel(n, i), a.GetName(), sub.GetName(), where), err
					}
				}
			}
		}
		return "", nil
	}
	if where, err := visit(g); err != nil {
		return fmt.Errorf("%s%w", where, err)
	}
	for _, s := range all {
		s.g.Node = s.order
	}
	return nil
}

// TopologicalOrder returns g's nodes (not those of its subgraphs) ordered so
// that each comes after the nodes producing its inputs, including the values
// its subgraphs read from g. The order is stable: a graph already in order
// keeps it, and otherwise each node moves only as far as its dependencies
// require. g is not changed. A cycle is an error wrapping ErrInvalid that names
// the nodes on it, in order.
func TopologicalOrder(g *onnxpb.GraphProto) ([]*onnxpb.NodeProto, error) {
	return topologicalOrder(g, freeNames{})
}

// TopoSorter is TopologicalOrder for the graphs of one model, called graph by
// graph (an inference engine walking nested If bodies): it remembers what
// each subgraph reads from enclosing scopes, so that a body nested d deep is
// walked once, not d times. The graphs' nodes must not change meanwhile.
type TopoSorter struct{ free freeNames }

// NewTopoSorter returns an empty TopoSorter.
func NewTopoSorter() *TopoSorter { return &TopoSorter{free: freeNames{}} }

// Order is TopologicalOrder(g).
func (s *TopoSorter) Order(g *onnxpb.GraphProto) ([]*onnxpb.NodeProto, error) {
	return topologicalOrder(g, s.free)
}

// freeNames memoizes, per subgraph, the names it reads from enclosing scopes
// (OuterNames): a graph nested d deep is then walked once, not d times.
type freeNames map[*onnxpb.GraphProto][]string

func (f freeNames) of(g *onnxpb.GraphProto) []string {
	if v, ok := f[g]; ok {
		return v
	}
	out := OuterNamesWith(g, f.of)
	f[g] = out
	return out
}

// OuterNamesWith is OuterNames(g), taking what each graph nested in g's nodes
// reads from enclosing scopes from inner: a caller that caches those (and
// knows when to forget them) passes its cache, so that a deep nesting is not
// walked again at every level.
func OuterNamesWith(g *onnxpb.GraphProto, inner func(*onnxpb.GraphProto) []string) []string {
	defined := definedNames(g)
	for _, n := range g.GetNode() {
		for _, o := range n.GetOutput() {
			defined[o] = true
		}
	}
	var out []string
	seen := map[string]bool{}
	add := func(name string) {
		if name != "" && !defined[name] && !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	for _, n := range g.GetNode() {
		for _, name := range n.GetInput() {
			add(name)
		}
		for _, a := range n.GetAttribute() {
			for _, sg := range Subgraphs(a) {
				for _, name := range inner(sg) {
					add(name)
				}
			}
		}
	}
	for _, v := range g.GetOutput() {
		add(v.GetName())
	}
	return out
}

// deps is nodeDeps with the subgraphs' outer names memoized.
func (f freeNames) deps(n *onnxpb.NodeProto) []string {
	var out []string
	seen := map[string]bool{}
	for _, name := range append(slices.Clone(n.GetInput()), f.implicit(n)...) {
		if name != "" && !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	return out
}

// implicit is ImplicitInputs with the subgraphs' outer names memoized.
func (f freeNames) implicit(n *onnxpb.NodeProto) []string {
	var out []string
	seen := map[string]bool{}
	for _, a := range n.GetAttribute() {
		for _, g := range Subgraphs(a) {
			for _, name := range f.of(g) {
				if !seen[name] {
					seen[name] = true
					out = append(out, name)
				}
			}
		}
	}
	return out
}

func topologicalOrder(g *onnxpb.GraphProto, free freeNames) ([]*onnxpb.NodeProto, error) {
	nodes := g.GetNode()
	producer := make(map[string]int, len(nodes))
	for i, n := range nodes {
		for _, o := range n.GetOutput() {
			if _, dup := producer[o]; o != "" && !dup {
				producer[o] = i
			}
		}
	}
	// Fast path: most graphs are in order already.
	inOrder := true
	for i, n := range nodes {
		for _, name := range free.deps(n) {
			if j, ok := producer[name]; ok && j >= i {
				inOrder = false
				break
			}
		}
		if !inOrder {
			break
		}
	}
	if inOrder {
		return nodes, nil
	}
	deps := make([][]int, len(nodes))
	for i, n := range nodes {
		for _, name := range free.deps(n) {
			if j, ok := producer[name]; ok {
				deps[i] = append(deps[i], j)
			}
		}
	}
	const (
		unseen = iota
		visiting
		done
	)
	state := make([]uint8, len(nodes))
	order := make([]*onnxpb.NodeProto, 0, len(nodes))
	// Depth-first, with an explicit stack: a long chain must not exhaust the
	// goroutine stack.
	for root := range nodes {
		if state[root] != unseen {
			continue
		}
		stack := []topoFrame{{root, 0}}
		state[root] = visiting
		for len(stack) > 0 {
			top := &stack[len(stack)-1]
			if top.next < len(deps[top.node]) {
				j := deps[top.node][top.next]
				top.next++
				switch state[j] {
				case visiting:
					return nil, cycleError(nodes, stack, j)
				case unseen:
					state[j] = visiting
					stack = append(stack, topoFrame{j, 0})
				}
				continue
			}
			state[top.node] = done
			order = append(order, nodes[top.node])
			stack = stack[:len(stack)-1]
		}
	}
	return order, nil
}

// topoFrame is one node on the depth-first walk's stack and the next of its
// dependencies to visit.
type topoFrame struct{ node, next int }

// cycleError names the nodes of the cycle that the depth-first walk found:
// the top of the stack reads node j, which is further down the stack. Each
// frame depends on the one above it, so j feeds the top, the top feeds the
// frame below it, and so on down to j again: they are listed in that order.
func cycleError(nodes []*onnxpb.NodeProto, stack []topoFrame, j int) error {
	start := len(stack) - 1
	for start > 0 && stack[start].node != j {
		start--
	}
	const most = 8
	names := []string{nodeLabel(nodes[j], j)}
	for k := len(stack) - 1; k > start; k-- {
		if len(names) == most {
			names = append(names, fmt.Sprintf("... (%d nodes in all)", len(stack)-start))
			break
		}
		names = append(names, nodeLabel(nodes[stack[k].node], stack[k].node))
	}
	names = append(names, nodeLabel(nodes[j], j))
	return fmt.Errorf("%w: the graph has a cycle: %s", ErrInvalid, strings.Join(names, " -> "))
}

// WalkGraphs calls fn with g and then with every graph nested in it (If
// branches, Loop and Scan bodies, at any depth), parents before children; top
// is true only for g itself.
func WalkGraphs(g *onnxpb.GraphProto, fn func(g *onnxpb.GraphProto, top bool)) {
	walkGraphs(g, true, fn)
}

func walkGraphs(g *onnxpb.GraphProto, top bool, fn func(*onnxpb.GraphProto, bool)) {
	fn(g, top)
	for _, n := range g.GetNode() {
		for _, a := range n.GetAttribute() {
			for _, sg := range Subgraphs(a) {
				walkGraphs(sg, false, fn)
			}
		}
	}
}

// Subgraphs returns the graphs attribute a holds: its g (an If branch, a Loop
// or Scan body), then its graphs. Most attributes hold none.
func Subgraphs(a *onnxpb.AttributeProto) []*onnxpb.GraphProto {
	if a.GetG() == nil {
		return a.GetGraphs()
	}
	return append([]*onnxpb.GraphProto{a.GetG()}, a.GetGraphs()...)
}

// CountParsedNodes counts the nodes of mp's graph and functions, with the
// nodes of every graph nested in them: what CountNodes counts in the bytes.
func CountParsedNodes(mp *onnxpb.ModelProto) int64 {
	n := countNodes(mp.GetGraph().GetNode())
	for _, f := range mp.GetFunctions() {
		n += countNodes(f.GetNode())
	}
	return n
}

func countNodes(nodes []*onnxpb.NodeProto) int64 {
	n := int64(len(nodes))
	for _, nd := range nodes {
		for _, a := range nd.GetAttribute() {
			for _, sg := range Subgraphs(a) {
				n += countNodes(sg.GetNode())
			}
		}
	}
	return n
}
