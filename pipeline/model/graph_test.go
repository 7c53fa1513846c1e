package model

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
)

func split(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// nd is a node named name: "op name in1,in2 -> out1" reads better as
// nd("Add", "add", "x,y", "z").
func nd(op, name, in, out string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
	return node(op, name, split(in), split(out), attrs...)
}

// graph builds a graph with the given inputs, initializers (tiny float
// tensors) and outputs, all comma-separated.
func graph(name, inputs, inits, outputs string, nodes ...*onnxpb.NodeProto) *onnxpb.GraphProto {
	g := &onnxpb.GraphProto{Name: ptr(name), Node: nodes}
	for _, n := range split(inputs) {
		g.Input = append(g.Input, valueInfo(n))
	}
	for _, n := range split(inits) {
		g.Initializer = append(g.Initializer, rawFloats(n, 1))
	}
	for _, n := range split(outputs) {
		g.Output = append(g.Output, valueInfo(n))
	}
	return g
}

func ifNode(name, cond, out string, then, els *onnxpb.GraphProto) *onnxpb.NodeProto {
	return nd("If", name, cond, out, graphAttr("then_branch", then), graphAttr("else_branch", els))
}

// indexGraph: a Mul, a Relu, an If whose branches read a, b and w from the
// outer scope (one of them through a nested If), and an Add reading a twice.
func indexGraph() *onnxpb.GraphProto {
	nested := graph("nested", "", "", "u", nd("Add", "nested_add", "t,b", "u"))
	then := graph("then", "", "", "u",
		nd("Neg", "then_neg", "a", "t"),
		ifNode("inner_if", "x", "u", nested, graph("nested_else", "", "", "t", nil...)))
	els := graph("else", "", "", "e", nd("Identity", "else_id", "w", "e"))
	return graph("main", "x", "w", "y,c",
		nd("Mul", "mul", "x,w", "a"),
		nd("Relu", "relu", "a", "b"),
		ifNode("if", "x", "y", then, els),
		nd("Add", "add", "a,a", "c"),
	)
}

func TestIndex(t *testing.T) {
	g := indexGraph()
	x := NewIndex(g)
	for _, tc := range []struct {
		name      string
		producer  int
		consumers []int
		init      bool
		in, out   bool
	}{
		{name: "x", producer: -1, consumers: []int{0, 2}, in: true},
		{name: "w", producer: -1, consumers: []int{0, 2}, init: true},
		{name: "a", producer: 0, consumers: []int{1, 2, 3}},
		{name: "b", producer: 1, consumers: []int{2}},
		{name: "y", producer: 2, out: true},
		{name: "c", producer: 3, out: true},
		{name: "t", producer: -1}, // defined inside a subgraph only
		{name: "nope", producer: -1},
	} {
		if got := x.Producer(tc.name); got != tc.producer {
			t.Errorf("Producer(%s) = %d, want %d", tc.name, got, tc.producer)
		}
		if got := x.Consumers(tc.name); !slices.Equal(got, tc.consumers) {
			t.Errorf("Consumers(%s) = %v, want %v", tc.name, got, tc.consumers)
		}
		if got := x.Initializer(tc.name) != nil; got != tc.init {
			t.Errorf("Initializer(%s) found = %v, want %v", tc.name, got, tc.init)
		}
		if x.IsInput(tc.name) != tc.in || x.IsOutput(tc.name) != tc.out {
			t.Errorf("IsInput/IsOutput(%s) = %v/%v, want %v/%v", tc.name, x.IsInput(tc.name), x.IsOutput(tc.name), tc.in, tc.out)
		}
	}
	if got, want := ImplicitInputs(g.Node[2]), []string{"a", "x", "b", "w"}; !slices.Equal(got, want) {
		t.Errorf("ImplicitInputs(if) = %v, want %v", got, want)
	}
	if got := ImplicitInputs(g.Node[0]); got != nil {
		t.Errorf("ImplicitInputs(mul) = %v, want none", got)
	}
	then := g.Node[2].Attribute[0].G
	if got, want := OuterNames(then), []string{"a", "x", "b"}; !slices.Equal(got, want) {
		t.Errorf("OuterNames(then) = %v, want %v", got, want)
	}
	// WalkGraphs visits each graph once, parents before children, depth first.
	var names []string
	var tops []bool
	WalkGraphs(g, func(sg *onnxpb.GraphProto, top bool) {
		names = append(names, sg.GetName())
		tops = append(tops, top)
	})
	if want := []string{"main", "then", "nested", "nested_else", "else"}; !slices.Equal(names, want) {
		t.Errorf("WalkGraphs visited %v, want %v", names, want)
	}
	if want := []bool{true, false, false, false, false}; !slices.Equal(tops, want) {
		t.Errorf("WalkGraphs top flags %v, want %v", tops, want)
	}
}

func TestCheckTopological(t *testing.T) {
	tests := []struct {
		name    string
		g       *onnxpb.GraphProto
		wantErr string // empty: valid
	}{
		{name: "valid, with subgraphs", g: indexGraph()},
		{name: "optional input left empty", g: graph("g", "x", "", "y", nd("Clip", "clip", "x,,", "y"))},
		{name: "output straight from an input", g: graph("g", "x", "", "x")},
		{name: "initializer also an input", g: graph("g", "w", "w", "y", nd("Neg", "neg", "w", "y"))},
		{
			name:    "used before defined",
			g:       graph("g", "x", "", "z", nd("Neg", "second", "y", "z"), nd("Neg", "first", "x", "y")),
			wantErr: `node "second" (Neg): input "y" is not defined before the node`,
		},
		{
			name:    "undefined input",
			g:       graph("g", "x", "", "y", nd("Add", "", "x,ghost", "y")),
			wantErr: `node #0 (Add): input "ghost"`,
		},
		{
			name:    "produced twice",
			g:       graph("g", "x", "", "y", nd("Neg", "a", "x", "y"), nd("Abs", "b", "x", "y")),
			wantErr: `node "b" (Abs): output "y" is already defined`,
		},
		{
			name:    "output overwrites an initializer",
			g:       graph("g", "x", "w", "w", nd("Neg", "a", "x", "w")),
			wantErr: `output "w" is already defined`,
		},
		{
			name:    "graph output never produced",
			g:       graph("g", "x", "", "y,z", nd("Neg", "a", "x", "y")),
			wantErr: `graph output "z" is not defined`,
		},
		{
			name: "subgraph reads a value defined after its node",
			g: graph("g", "x", "", "y,late",
				ifNode("if", "x", "y", graph("then", "", "", "t", nd("Neg", "inner", "late", "t")), graph("else", "", "", "x")),
				nd("Neg", "late_neg", "x", "late")),
			wantErr: `node "if" (If), attribute then_branch: invalid model: node "inner" (Neg) in graph "then": input "late"`,
		},
		{
			name: "subgraph output undefined",
			g: graph("g", "x", "", "y",
				ifNode("if", "x", "y", graph("then", "", "", "nothing"), graph("else", "", "", "x"))),
			wantErr: `graph output "nothing" in graph "then" is not defined`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckTopological(tc.g)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("CheckTopological = %v, want ErrInvalid containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestSortTopologically(t *testing.T) {
	tests := []struct {
		name    string
		g       *onnxpb.GraphProto
		want    string // node names in the expected order
		wantErr string
	}{
		{name: "already sorted stays", g: indexGraph(), want: "mul,relu,if,add"},
		{name: "empty", g: graph("g", "x", "", "x"), want: ""},
		{
			name: "reversed chain",
			g:    graph("g", "x", "", "d", nd("Neg", "n3", "c", "d"), nd("Neg", "n2", "b", "c"), nd("Neg", "n1", "x", "b")),
			want: "n1,n2,n3",
		},
		{
			name: "independent nodes keep their order",
			g: graph("g", "x", "", "p,q,r",
				nd("Neg", "p", "x", "p"), nd("Abs", "r", "q", "r"), nd("Neg", "q", "x", "q"), nd("Relu", "s", "x", "s")),
			want: "p,q,r,s",
		},
		{
			name: "a subgraph's outer read is a dependency",
			g: graph("g", "x", "", "y",
				ifNode("if", "x", "y", graph("then", "", "", "t", nd("Neg", "inner", "late", "t")), graph("else", "", "", "x")),
				nd("Neg", "late", "x", "late")),
			want: "late,if",
		},
		{
			name: "subgraphs are sorted too",
			g: graph("g", "x", "", "y",
				nd("Neg", "late", "x", "late"),
				ifNode("if", "x", "y",
					graph("then", "", "", "t", nd("Neg", "t2", "t1", "t"), nd("Abs", "t1", "late", "t1")),
					graph("else", "", "", "x"))),
			want: "late,if",
		},
		{
			name:    "cycle",
			g:       graph("g", "x", "", "b", nd("Add", "n1", "x,b", "a"), nd("Neg", "n2", "a", "b")),
			wantErr: `the graph has a cycle: node "n1" (Add) -> node "n2" (Neg) -> node "n1" (Add)`,
		},
		{
			name: "cycle of three after a sorted prefix",
			g: graph("g", "x", "", "d", nd("Neg", "ok", "x", "o"), nd("Add", "p", "o,r", "pp"),
				nd("Neg", "q", "pp", "qq"), nd("Neg", "r", "qq", "r"), nd("Neg", "d", "qq", "d")),
			wantErr: `cycle: node "p" (Add) -> node "q" (Neg) -> node "r" (Neg) -> node "p" (Add)`,
		},
		{
			name:    "self loop",
			g:       graph("g", "", "", "a", nd("Neg", "self", "a", "a")),
			wantErr: `cycle: node "self" (Neg) -> node "self" (Neg)`,
		},
		{
			name: "cycle in a subgraph names the graph; nothing is reordered",
			g: graph("g", "x", "", "y",
				nd("Neg", "b", "a", "y"), nd("Neg", "a", "x", "a"),
				ifNode("if", "x", "z",
					graph("then", "", "", "t", nd("Neg", "t1", "t", "u"), nd("Neg", "t2", "u", "t")),
					graph("else", "", "", "x"))),
			wantErr: `node "if" (If), attribute then_branch, graph "then": invalid model: the graph has a cycle: node "t1" (Neg) -> node "t2" (Neg) -> node "t1" (Neg)`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := proto.Clone(tc.g).(*onnxpb.GraphProto)
			err := SortTopologically(tc.g)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, ErrInvalid) {
					t.Fatalf("SortTopologically = %v, want ErrInvalid containing %q", err, tc.wantErr)
				}
				if !proto.Equal(before, tc.g) {
					t.Error("a failed sort changed the graph")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, n := range tc.g.GetNode() {
				names = append(names, n.GetName())
			}
			if got := strings.Join(names, ","); got != tc.want {
				t.Errorf("order = %s, want %s", got, tc.want)
			}
			if err := CheckTopological(tc.g); err != nil {
				t.Errorf("sorted graph fails the check: %v", err)
			}
		})
	}
}

// TestSortLongChain: a chain far deeper than a recursive sort could take.
func TestSortLongChain(t *testing.T) {
	const n = 200_000
	g := &onnxpb.GraphProto{Input: []*onnxpb.ValueInfoProto{valueInfo("v0")}}
	names := make([]string, n+1)
	for i := range names {
		names[i] = "v" + strconv.Itoa(i)
	}
	for i := n; i >= 1; i-- {
		g.Node = append(g.Node, &onnxpb.NodeProto{OpType: ptr("Neg"), Input: []string{names[i-1]}, Output: []string{names[i]}})
	}
	if err := SortTopologically(g); err != nil {
		t.Fatal(err)
	}
	if err := CheckTopological(g); err != nil {
		t.Fatal(err)
	}
}

// exerciseGraph runs every graph query on g; FuzzLoad uses it to look for panics.
func exerciseGraph(g *onnxpb.GraphProto) {
	x := NewIndex(g)
	for _, n := range g.GetNode() {
		for _, name := range append(n.GetInput(), n.GetOutput()...) {
			x.Producer(name)
			x.Consumers(name)
			x.Initializer(name)
		}
		ImplicitInputs(n)
	}
	CheckTopological(g)
	SortTopologically(proto.Clone(g).(*onnxpb.GraphProto))
}
