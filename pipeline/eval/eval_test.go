package eval

import (
	"errors"
	"fmt"
	"testing"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

func i64(dims []int64, v ...int64) *tensor.Tensor   { return tensor.FromInt64s(dims, v) }
func f32(dims []int64, v ...float32) *tensor.Tensor { return tensor.FromFloat32s(dims, v) }
func boolT(dims []int64, v ...int64) *tensor.Tensor {
	return &tensor.Tensor{DType: tensor.Bool, Dims: dims, I64: v}
}

func intAttr(name string, v int64) *onnxpb.AttributeProto {
	t := onnxpb.AttributeProto_INT
	return &onnxpb.AttributeProto{Name: &name, Type: &t, I: &v}
}

func intsAttr(name string, v ...int64) *onnxpb.AttributeProto {
	t := onnxpb.AttributeProto_INTS
	return &onnxpb.AttributeProto{Name: &name, Type: &t, Ints: v}
}

// TestKernels checks one or more cases per family, including the shape
// arithmetic that torch exports build (the oracle-backed test covers more).
func TestKernels(t *testing.T) {
	cases := []struct {
		op    string
		opset int64
		attrs []*onnxpb.AttributeProto
		in    []*tensor.Tensor
		outs  int
		want  []*tensor.Tensor
		err   bool
	}{
		{op: "Add", in: []*tensor.Tensor{f32([]int64{2, 1}, 1, 2), f32([]int64{3}, 10, 20, 30)},
			want: []*tensor.Tensor{f32([]int64{2, 3}, 11, 21, 31, 12, 22, 32)}},
		{op: "Div", in: []*tensor.Tensor{i64(nil, 7), i64(nil, -2)}, want: []*tensor.Tensor{i64(nil, -3)}},
		{op: "Div", in: []*tensor.Tensor{i64(nil, 7), i64(nil, 0)}, err: true},
		{op: "Cast", attrs: []*onnxpb.AttributeProto{intAttr("to", int64(tensor.Int64))},
			in: []*tensor.Tensor{f32([]int64{3}, -1.7, 0.5, 2.9)}, want: []*tensor.Tensor{i64([]int64{3}, -1, 0, 2)}},
		{op: "Cast", attrs: []*onnxpb.AttributeProto{intAttr("to", int64(tensor.Int8))},
			in: []*tensor.Tensor{i64(nil, 300)}, want: []*tensor.Tensor{{DType: tensor.Int8, I64: []int64{44}}}},
		{op: "Equal", in: []*tensor.Tensor{i64([]int64{3}, 1, 2, 3), i64(nil, 2)}, want: []*tensor.Tensor{boolT([]int64{3}, 0, 1, 0)}},
		{op: "Where", in: []*tensor.Tensor{boolT([]int64{2}, 1, 0), f32([]int64{2}, 1, 2), f32(nil, 9)},
			want: []*tensor.Tensor{f32([]int64{2}, 1, 9)}},
		{op: "Shape", attrs: []*onnxpb.AttributeProto{intAttr("start", -2)}, in: []*tensor.Tensor{tensor.New(tensor.Float, []int64{2, 3, 4})},
			want: []*tensor.Tensor{i64([]int64{2}, 3, 4)}},
		{op: "Reshape", in: []*tensor.Tensor{f32([]int64{2, 3}, 1, 2, 3, 4, 5, 6), i64([]int64{2}, 0, -1)},
			want: []*tensor.Tensor{f32([]int64{2, 3}, 1, 2, 3, 4, 5, 6)}},
		{op: "Reshape", in: []*tensor.Tensor{f32([]int64{2, 3}, 1, 2, 3, 4, 5, 6), i64([]int64{1}, 4)}, err: true},
		{op: "Unsqueeze", in: []*tensor.Tensor{i64(nil, 5), i64([]int64{1}, 0)}, want: []*tensor.Tensor{i64([]int64{1}, 5)}},
		{op: "Unsqueeze", opset: 11, attrs: []*onnxpb.AttributeProto{intsAttr("axes", -1)}, in: []*tensor.Tensor{i64([]int64{2}, 5, 6)},
			want: []*tensor.Tensor{i64([]int64{2, 1}, 5, 6)}},
		{op: "Squeeze", in: []*tensor.Tensor{i64([]int64{1, 2, 1}, 5, 6)}, want: []*tensor.Tensor{i64([]int64{2}, 5, 6)}},
		// Empty axes are no axes, as ONNX Runtime runs them.
		{op: "Squeeze", in: []*tensor.Tensor{i64([]int64{1, 2, 1}, 5, 6), i64([]int64{0})}, want: []*tensor.Tensor{i64([]int64{2}, 5, 6)}},
		{op: "Concat", attrs: []*onnxpb.AttributeProto{intAttr("axis", 1)},
			in:   []*tensor.Tensor{i64([]int64{2, 1}, 1, 2), i64([]int64{2, 2}, 3, 4, 5, 6)},
			want: []*tensor.Tensor{i64([]int64{2, 3}, 1, 3, 4, 2, 5, 6)}},
		{op: "Gather", in: []*tensor.Tensor{i64([]int64{3}, 7, 8, 9), i64(nil, -1)}, want: []*tensor.Tensor{i64(nil, 9)}},
		{op: "Gather", in: []*tensor.Tensor{i64([]int64{3}, 7, 8, 9), i64(nil, 3)}, err: true},
		{op: "Transpose", in: []*tensor.Tensor{f32([]int64{2, 3}, 1, 2, 3, 4, 5, 6)},
			want: []*tensor.Tensor{f32([]int64{3, 2}, 1, 4, 2, 5, 3, 6)}},
		{op: "Slice", in: []*tensor.Tensor{i64([]int64{5}, 0, 1, 2, 3, 4), i64([]int64{1}, -1), i64([]int64{1}, -9223372036854775807), i64([]int64{1}, 0), i64([]int64{1}, -2)},
			want: []*tensor.Tensor{i64([]int64{3}, 4, 2, 0)}},
		{op: "Split", outs: 2, in: []*tensor.Tensor{i64([]int64{4}, 1, 2, 3, 4), i64([]int64{2}, 1, 3)},
			want: []*tensor.Tensor{i64([]int64{1}, 1), i64([]int64{3}, 2, 3, 4)}},
		{op: "Expand", in: []*tensor.Tensor{i64([]int64{2, 1}, 1, 2), i64([]int64{2}, 1, 2)},
			want: []*tensor.Tensor{i64([]int64{2, 2}, 1, 1, 2, 2)}},
		{op: "ConstantOfShape", in: []*tensor.Tensor{i64([]int64{2}, 2, 1)}, want: []*tensor.Tensor{f32([]int64{2, 1}, 0, 0)}},
		{op: "Range", in: []*tensor.Tensor{i64(nil, 5), i64(nil, 0), i64(nil, -2)}, want: []*tensor.Tensor{i64([]int64{3}, 5, 3, 1)}},
		{op: "Trilu", attrs: []*onnxpb.AttributeProto{intAttr("upper", 0)}, in: []*tensor.Tensor{i64([]int64{2, 2}, 1, 2, 3, 4)},
			want: []*tensor.Tensor{i64([]int64{2, 2}, 1, 0, 3, 4)}},
		{op: "MatMul", in: []*tensor.Tensor{f32([]int64{2}, 1, 2), f32([]int64{2, 2}, 1, 2, 3, 4)}, want: []*tensor.Tensor{f32([]int64{2}, 7, 10)}},
		{op: "NoSuchOp", in: []*tensor.Tensor{f32(nil, 1)}, err: true},
	}
	for i, c := range cases {
		t.Run(fmt.Sprintf("%d_%s", i, c.op), func(t *testing.T) {
			opset := c.opset
			if opset == 0 {
				opset = 17
			}
			outs := c.outs
			if outs == 0 {
				outs = 1
			}
			op := c.op
			n := &onnxpb.NodeProto{OpType: &op, Attribute: c.attrs, Output: make([]string, outs)}
			got, err := Run(n, opset, c.in)
			if c.err {
				if err == nil {
					t.Fatalf("no error, got %v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for j, w := range c.want {
				if msg := diff(got[j], w); msg != "" {
					t.Errorf("output %d: %s (got %+v)", j, msg, got[j])
				}
			}
		})
	}
	if _, err := Run(&onnxpb.NodeProto{OpType: new(string)}, 17, nil); !errors.Is(err, ErrNoKernel) {
		t.Errorf("missing kernel: err = %v, want ErrNoKernel", err)
	}
}
