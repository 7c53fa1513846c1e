package optimize

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/quantprep/quantprep/internal/onnxtext"
	"github.com/quantprep/quantprep/pipeline/model"
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
