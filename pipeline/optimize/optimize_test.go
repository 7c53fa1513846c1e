package optimize

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quantprep/quantprep/internal/onnxtext"
	"github.com/quantprep/quantprep/pipeline/model"
)

func parse(t *testing.T, src string) *model.Model {
	t.Helper()
	mp, err := onnxtext.ParseModel(src)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return &model.Model{Proto: mp}
}

// TestCheck feeds the invariant check graphs that break each invariant.
func TestCheck(t *testing.T) {
	cases := []struct {
		name, src, err string
	}{
		{"valid", `<ir_version: 8, opset_import: ["" : 17]>
g (float[2] x) => (float[2] y) { a = Relu (x) y = Neg (a) }`, ""},
		{"order", `<ir_version: 8, opset_import: ["" : 17]>
g (float[2] x) => (float[2] y) { y = Neg (a) a = Relu (x) }`, `input "a" is not defined before it`},
		{"undefined", `<ir_version: 8, opset_import: ["" : 17]>
g (float[2] x) => (float[2] y) { y = Neg (z) }`, `input "z" is not defined`},
		{"twice", `<ir_version: 8, opset_import: ["" : 17]>
g (float[2] x) => (float[2] y) { y = Neg (x) y = Relu (x) }`, `output "y" is defined twice`},
		{"output", `<ir_version: 8, opset_import: ["" : 17]>
g (float[2] x) => (float[2] y) { a = Neg (x) }`, `graph output "y" is not defined`},
		{"value_info", `<ir_version: 8, opset_import: ["" : 17]>
g (float[2] x) => (float[2] y) <float[2] ghost> { y = Neg (x) }`, `value_info "ghost" names no value`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := check(newGraph(parse(t, c.src)))
			switch {
			case c.err == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
				t.Fatalf("error %v, want one containing %q", err, c.err)
			}
		})
	}
}

// TestRunRejectsInvalidGraph: a broken input model is ErrInvalid, not a panic.
func TestRunRejectsInvalidGraph(t *testing.T) {
	m := parse(t, `<ir_version: 8, opset_import: ["" : 17]>
g (float[2] x) => (float[2] y) { y = Neg (z) }`)
	if _, err := Run(context.Background(), m, Config{}); !errors.Is(err, model.ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
}

// TestDisabled: Disabled names rules and passes; unknown names are an error.
func TestDisabled(t *testing.T) {
	src := `<ir_version: 8, opset_import: ["" : 17]>
g (float[2] x) => (float[2] y) { a = Identity (x) b = Relu (a) c = Relu (a) y = Add (b, c) }`
	cases := []struct {
		disabled []string
		nodes    int
		rewrites map[string]int64
		err      string
	}{
		{nil, 2, map[string]int64{"EliminateIdentity": 1, "CommonSubexpressionElimination": 1}, ""},
		{[]string{"EliminateIdentity"}, 3, map[string]int64{"CommonSubexpressionElimination": 1}, ""},
		{[]string{"EliminateIdentity", "CommonSubexpressionElimination"}, 4, map[string]int64{}, ""},
		{[]string{"NoSuchPass"}, 0, nil, `unknown pass or rule "NoSuchPass"`},
		{[]string{"ConstantToInitializer"}, 0, nil, "cannot be disabled"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.disabled, ","), func(t *testing.T) {
			m := parse(t, src)
			res, err := Run(context.Background(), m, Config{Disabled: c.disabled})
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := len(m.Graph().GetNode()); got != c.nodes {
				t.Errorf("%d nodes, want %d", got, c.nodes)
			}
			if len(res.Rewrites) != len(c.rewrites) {
				t.Errorf("rewrites %v, want %v", res.Rewrites, c.rewrites)
			}
			for k, v := range c.rewrites {
				if res.Rewrites[k] != v {
					t.Errorf("rewrites %v, want %v", res.Rewrites, c.rewrites)
				}
			}
		})
	}
}

// TestNames: every rule and pass has a distinct name, in table order.
func TestNames(t *testing.T) {
	seen := map[string]bool{}
	for _, n := range Names() {
		if n == "" || seen[n] {
			t.Errorf("name %q empty or repeated", n)
		}
		seen[n] = true
	}
	if !seen["ConstantFolding"] || !seen["ConvBNFusion"] || seen[rulePassName] {
		t.Errorf("Names() = %v", Names())
	}
	// Every pass and rule has golden cases.
	for n := range seen {
		if files, _ := filepath.Glob(filepath.Join("testdata", n, "*.txtar")); len(files) == 0 {
			t.Errorf("no testdata/%s/*.txtar", n)
		}
	}
}

// TestSubgraphReads: values that a subgraph reads are never renamed or removed
// (this package does not rewrite inside subgraphs).
func TestSubgraphReads(t *testing.T) {
	m := parse(t, `<ir_version: 8, opset_import: ["" : 17]>
g (bool c, float[2] x) => (float[2] y)
{
  a = Identity (x)
  y = If (c) <then_branch = t () => (float[2] r) { r = Relu (a) }, else_branch = e () => (float[2] s) { s = Neg (a) }>
}`)
	if _, err := Run(context.Background(), m, Config{}); err != nil {
		t.Fatal(err)
	}
	if n := len(m.Graph().GetNode()); n != 2 {
		t.Fatalf("%d nodes, want the Identity kept: %s", n, onnxtext.PrintGraph(m.Graph()))
	}
}

// TestCanceled: a canceled context stops the run with its error.
func TestCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m := parse(t, `<ir_version: 8, opset_import: ["" : 17]>
g (float[2] x) => (float[2] y) { y = Identity (x) }`)
	if _, err := Run(ctx, m, Config{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// TestRunSortsNodes: a graph whose nodes (or a subgraph's) are out of order is
// accepted, as ONNX Runtime accepts it, and comes out sorted; a real cycle is
// an error naming its nodes. The first case is the layout of an fp16
// conversion that appends the input Casts after the nodes reading them.
func TestRunSortsNodes(t *testing.T) {
	cases := []struct {
		name, src, want, err string
	}{
		{
			name: "fp16 input cast appended",
			src: `<ir_version: 8, opset_import: ["" : 17]>
g (float[1, 2] x) => (float[1, 2] y)
{
  [conv] c = Relu (graph_input_cast_0)
  [out_cast] y = Cast <to = 1> (c)
  [in_cast] graph_input_cast_0 = Cast <to = 10> (x)
}`,
			want: "in_cast,conv,out_cast",
		},
		{
			name: "subgraph out of order",
			src: `<ir_version: 8, opset_import: ["" : 17]>
g (bool b, float[2] x) => (float[2] y)
{
  [if] y = If (b) <then_branch = t () => (float[2] r) { [t2] r = Neg (q) [t1] q = Abs (a) }, else_branch = e () => (float[2] s) { [e1] s = Relu (a) }>
  [a] a = Sqrt (x)
}`,
			want: "a,if",
		},
		{
			name: "cycle",
			src: `<ir_version: 8, opset_import: ["" : 17]>
g (float[2] x) => (float[2] y) { [n1] a = Add (x, b) [n2] b = Relu (a) [n3] y = Neg (b) }`,
			err: `invalid model: the graph has a cycle: node "n1" (Add) -> node "n2" (Relu) -> node "n1" (Add)`,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := parse(t, c.src)
			_, err := Run(context.Background(), m, Config{})
			if c.err != "" {
				if err == nil || err.Error() != c.err || !errors.Is(err, model.ErrInvalid) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, n := range m.Graph().GetNode() {
				names = append(names, n.GetName())
			}
			if got := strings.Join(names, ","); got != c.want {
				t.Errorf("nodes %s, want %s", got, c.want)
			}
			if err := model.CheckTopological(m.Graph()); err != nil {
				t.Errorf("output not sorted: %v", err)
			}
		})
	}
}
