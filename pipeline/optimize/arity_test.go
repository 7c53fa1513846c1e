package optimize

import (
	"context"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"strconv"
	"strings"
	"testing"

	"github.com/quantprep/quantprep/internal/onnxtext"
	"github.com/quantprep/quantprep/pipeline/model"
	"github.com/quantprep/quantprep/pipeline/opset"
	"github.com/quantprep/quantprep/pipeline/opset/opsettest"
)

// A node of a one-output operator that declares a second output, read by
// another node, is invalid input (ONNX Runtime refuses the model), refused
// before any pass: the rules that take output 0 for the node's value would
// orphan the reader of the second (the fuzzer found Transpose into Gemm and
// Unsqueeze elimination doing so).
func TestRefusesExtraOutputs(t *testing.T) {
	tests := []struct{ name, body, node string }{
		{"Transpose read by Gemm", `
g (float[2, 3] x, float[2, 4] w) => (float[3, 4] y, float[3, 2] z)
{
  t, u = Transpose (x)
  y = Gemm (t, w)
  z = Relu (u)
}`, `(Transpose) has 2 outputs (["t" "u"])`},
		{"Unsqueeze of a constant", `
g (float[2, 1] x) => (float[2, 1] y, float[2] z)
<float[2] a = {1, 2}, int64[1] ax = {1}>
{
  u, v = Unsqueeze (a, ax)
  y = Add (x, u)
  z = Relu (v)
}`, `(Unsqueeze) has 2 outputs (["u" "v"])`},
		{"Not under a Where", `
g (bool[4] c, float[4] a, float[4] b) => (float[4] y, bool[4] z)
{
  n, m = Not (c)
  y = Where (n, a, b)
  z = Not (m)
}`, `(Not) has 2 outputs (["n" "m"])`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mp, err := onnxtext.ParseModel(`<ir_version: 8, opset_import: ["" : 17]>` + tt.body)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Run(context.Background(), &model.Model{Proto: mp}, Config{})
			if !errors.Is(err, model.ErrInvalid) || !strings.Contains(err.Error(), "where the operator has one") {
				t.Fatalf("err = %v, want an invalid model naming the node", err)
			}
			if !strings.Contains(err.Error(), tt.node) {
				t.Errorf("error %q does not name the node %s", err, tt.node)
			}
		})
	}
}

// TestSingleOutputTable re-derives singleOutput from ONNX's schemas: every
// operator in it has one output in every version, and every ONNX operator
// that this package's code names (a string literal equal to its op type, in a
// rule, a pass or a helper) and that has one output in every version is in
// it, so that a rule added for a new operator cannot miss the check.
func TestSingleOutputTable(t *testing.T) {
	maxOut, err := opsettest.MaxOutputs()
	if err != nil {
		t.Fatal(err)
	}
	one := func(op string) bool { return maxOut[opset.Key{Domain: model.NormDomain(""), Name: op}] == 1 }
	for op := range singleOutput {
		if !one(op) {
			t.Errorf("singleOutput holds %s, which ONNX lets have %d outputs", op, maxOut[opset.Key{Domain: model.NormDomain(""), Name: op}])
		}
	}
	named := map[string]string{} // op -> a file naming it
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", func(fi fs.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pkgs {
		for name, f := range p.Files {
			ast.Inspect(f, func(n ast.Node) bool {
				if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					if s, err := strconv.Unquote(lit.Value); err == nil && one(s) {
						named[s] = name
					}
				}
				return true
			})
		}
	}
	if len(named) < len(singleOutput) {
		t.Fatalf("found %d one-output operators named in the package's code, fewer than singleOutput's %d: the scan is broken", len(named), len(singleOutput))
	}
	for op, file := range named {
		if !singleOutput[op] {
			t.Errorf("%s names %s, which has one output in every ONNX version, and singleOutput does not hold it", file, op)
		}
	}
}
