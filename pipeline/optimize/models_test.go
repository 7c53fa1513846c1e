package optimize

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/model"
)

// TestModels optimizes the committed torch exports and compares the operator
// histogram with what ONNX Runtime 1.30's basic level leaves (measured with
// its InferenceSession and optimized_model_filepath on the same files), then
// checks with the reference interpreter that every output keeps its value.
func TestModels(t *testing.T) {
	cases := []struct {
		file string
		want map[string]int
	}{
		{"cnn-tiny.onnx", map[string]int{"Add": 3, "Conv": 9, "Flatten": 1, "Gemm": 1, "GlobalAveragePool": 1, "MaxPool": 1, "Relu": 7}},
		{"bert-tiny.onnx", map[string]int{"Add": 22, "Cast": 1, "Concat": 4, "Div": 4, "Erf": 2, "Gather": 9, "Gemm": 1,
			"LayerNormalization": 5, "MatMul": 16, "Mul": 5, "Range": 1, "Reshape": 8, "Shape": 3, "Softmax": 2, "Sub": 1,
			"Tanh": 1, "Transpose": 8, "Unsqueeze": 7}},
		{"gpt2-tiny.onnx", map[string]int{"Add": 17, "Concat": 6, "ConstantOfShape": 2, "Gather": 7, "LayerNormalization": 5,
			"MatMul": 13, "Mul": 14, "Range": 1, "Reshape": 8, "Shape": 3, "Softmax": 2, "Split": 2, "Tanh": 2,
			"Transpose": 8, "Trilu": 2, "Unsqueeze": 4, "Where": 2}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			m, err := model.Load(filepath.Join("..", "..", "testdata", "models", c.file))
			if err != nil {
				t.Fatal(err)
			}
			orig := &model.Model{Proto: proto.Clone(m.Proto).(*onnxpb.ModelProto), Dir: m.Dir}
			res, err := Run(context.Background(), m, Config{})
			if err != nil {
				t.Fatal(err)
			}
			got := histogram(m.Graph())
			if !maps.Equal(got, c.want) {
				t.Errorf("ops after optimization:\n got %v\nwant %v (ONNX Runtime's basic level)\nrewrites %v", fmtHist(got), fmtHist(c.want), res.Rewrites)
			}
			if !sameOutputs(t, orig, m) {
				t.Error("the reference interpreter should run every committed model")
			}
			// A second run finds nothing left to do.
			res2, err := Run(context.Background(), m, Config{})
			if err != nil {
				t.Fatal(err)
			}
			if len(res2.Rewrites) != 0 {
				t.Errorf("second run still rewrote: %v", res2.Rewrites)
			}
		})
	}
}

func histogram(g *onnxpb.GraphProto) map[string]int {
	h := map[string]int{}
	for _, n := range g.GetNode() {
		h[n.GetOpType()]++
	}
	return h
}

func fmtHist(h map[string]int) string {
	s := ""
	for _, k := range slices.Sorted(maps.Keys(h)) {
		s += fmt.Sprintf("%s:%d ", k, h[k])
	}
	return s
}
