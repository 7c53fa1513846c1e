package model

import (
	"testing"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
)

// TestInlineFloor: only weights that a live node with a run-time input
// keeps, directly or through Transposes and Reshapes, count; each once.
func TestInlineFloor(t *testing.T) {
	w := func(name string, n int64) *onnxpb.TensorProto {
		return &onnxpb.TensorProto{Name: ptr(name), DataType: ptr(int32(onnxpb.TensorProto_FLOAT)), Dims: []int64{n, 1000},
			DataLocation: onnxpb.TensorProto_EXTERNAL.Enum(), ExternalData: externalEntries("nowhere.bin", 0, 4000*n)}
	}
	for _, tt := range []struct {
		name  string
		nodes []*onnxpb.NodeProto
		want  int64
	}{
		{"matmul through transpose", []*onnxpb.NodeProto{
			node("Transpose", "t", []string{"w"}, []string{"wt"}),
			node("MatMul", "mm", []string{"x", "wt"}, []string{"y"}),
		}, 4000 * 300},
		{"two readers of one weight count once", []*onnxpb.NodeProto{
			node("Gather", "g", []string{"w", "x"}, []string{"e"}),
			node("MatMul", "mm", []string{"e", "w"}, []string{"y"}),
		}, 4000 * 300},
		{"constant-only node may fold", []*onnxpb.NodeProto{
			node("MatMul", "mm", []string{"w", "v"}, []string{"c"}),
			node("Add", "add", []string{"x", "c"}, []string{"y"}),
		}, 0},
		{"dead node", []*onnxpb.NodeProto{
			node("MatMul", "dead", []string{"x", "w"}, []string{"d"}),
			node("Relu", "r", []string{"x"}, []string{"y"}),
		}, 0},
		{"elementwise may be a no-op", []*onnxpb.NodeProto{
			node("Mul", "mul", []string{"x", "w"}, []string{"y"}),
		}, 0},
		{"through shape only", []*onnxpb.NodeProto{
			node("Shape", "s", []string{"x"}, []string{"sx"}),
			node("MatMul", "mm", []string{"sx", "w"}, []string{"y"}),
		}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := &onnxpb.GraphProto{Name: ptr("g"), Node: tt.nodes,
				Initializer: []*onnxpb.TensorProto{w("w", 300), w("v", 1000)},
				Input:       []*onnxpb.ValueInfoProto{valueInfo("x")},
				Output:      []*onnxpb.ValueInfoProto{valueInfo("y")}}
			m := &Model{Proto: &onnxpb.ModelProto{IrVersion: ptr(int64(8)), Graph: g}}
			if got := m.InlineFloor(); got != tt.want {
				t.Errorf("InlineFloor = %d, want %d", got, tt.want)
			}
		})
	}
}
