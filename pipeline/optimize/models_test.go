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
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// TestModels optimizes the committed torch exports and compares the operator
// histogram with what ONNX Runtime 1.30's basic level leaves (measured with
// its InferenceSession and optimized_model_filepath on the same files), then
// checks with the reference interpreter that every output keeps its value.
func TestModels(t *testing.T) {
	cases := []struct {
		file string
		// static fixes the inputs' symbolic dims and records every value's
		// shape in value_info, as a complete shape inference would.
		static bool
		want   map[string]int
	}{
		{"cnn-tiny.onnx", false, map[string]int{"Add": 3, "Conv": 9, "Flatten": 1, "Gemm": 1, "GlobalAveragePool": 1, "MaxPool": 1, "Relu": 7}},
		{"bert-tiny.onnx", false, map[string]int{"Add": 22, "Cast": 1, "Concat": 4, "Div": 4, "Erf": 2, "Gather": 9, "Gemm": 1,
			"LayerNormalization": 5, "MatMul": 16, "Mul": 5, "Range": 1, "Reshape": 8, "Shape": 3, "Softmax": 2, "Sub": 1,
			"Tanh": 1, "Transpose": 8, "Unsqueeze": 7}},
		{"gpt2-tiny.onnx", false, map[string]int{"Add": 17, "Concat": 6, "ConstantOfShape": 2, "Gather": 7, "LayerNormalization": 5,
			"MatMul": 13, "Mul": 14, "Range": 1, "Reshape": 8, "Shape": 3, "Softmax": 2, "Split": 2, "Tanh": 2,
			"Transpose": 8, "Trilu": 2, "Unsqueeze": 4, "Where": 2}},
		// ONNX Runtime's counts for these two come from the same models with every
		// value's shape recorded (batch 2, sequence 7): Shape nodes fold, and
		// MatMul+Add outside attention blocks becomes Reshape, Gemm, Reshape.
		{"bert-tiny.onnx", true, map[string]int{"Add": 18, "Cast": 1, "Div": 4, "Erf": 2, "Gather": 3, "Gemm": 5,
			"LayerNormalization": 5, "MatMul": 12, "Mul": 5, "Reshape": 16, "Softmax": 2, "Sub": 1, "Tanh": 1,
			"Transpose": 8, "Unsqueeze": 2}},
		{"gpt2-tiny.onnx", true, map[string]int{"Add": 9, "Gather": 1, "Gemm": 8, "LayerNormalization": 5, "MatMul": 5,
			"Mul": 14, "Reshape": 22, "Softmax": 2, "Split": 2, "Tanh": 2, "Transpose": 8, "Where": 2}},
	}
	for _, c := range cases {
		name := c.file
		if c.static {
			name += "/static"
		}
		t.Run(name, func(t *testing.T) {
			m, err := model.Load(filepath.Join("..", "..", "testdata", "models", c.file))
			if err != nil {
				t.Fatal(err)
			}
			if c.static {
				fillStaticShapes(t, m)
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

// fillStaticShapes fixes the symbolic input dims (symbolicDims) and records
// the type and shape of every node output in value_info, taken from a run of
// the reference interpreter.
func fillStaticShapes(t *testing.T, m *model.Model) {
	t.Helper()
	in, err := randomInputs(m)
	if err != nil {
		t.Fatal(err)
	}
	vals, err := interpretAll(m, in)
	if err != nil {
		t.Fatal(err)
	}
	g := m.Graph()
	outs := map[string]bool{}
	for _, o := range g.GetOutput() {
		outs[o.GetName()] = true
	}
	for _, vi := range g.GetInput() {
		if v, ok := in[vi.GetName()]; ok {
			vi.Type = tensorType(v)
		}
	}
	g.ValueInfo = nil
	for _, n := range g.GetNode() {
		for _, o := range n.GetOutput() {
			if v, ok := vals[o]; ok && o != "" && !outs[o] {
				name := o
				g.ValueInfo = append(g.ValueInfo, &onnxpb.ValueInfoProto{Name: &name, Type: tensorType(v)})
			}
		}
	}
}

func tensorType(v *tensor.Tensor) *onnxpb.TypeProto {
	et := int32(v.DType)
	shape := &onnxpb.TensorShapeProto{}
	for _, d := range v.Dims {
		shape.Dim = append(shape.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}})
	}
	return &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{ElemType: &et, Shape: shape}}}
}
