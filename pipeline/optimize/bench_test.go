package optimize

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/model"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// chainModel builds a model of `blocks` blocks of what torch exports without
// constant folding: a Constant, an Identity of it, a Mul by it, a Shape, a
// Cast to the same type, and a Relu; about 6 nodes and 3 rewrites per block.
func chainModel(blocks int) *model.Model {
	f := int32(tensor.Float)
	dim := func(v int64) *onnxpb.TensorShapeProto_Dimension {
		return &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: v}}
	}
	vi := func(name string) *onnxpb.ValueInfoProto {
		return &onnxpb.ValueInfoProto{Name: &name, Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: &f, Shape: &onnxpb.TensorShapeProto{Dim: []*onnxpb.TensorShapeProto_Dimension{dim(4)}}}}}}
	}
	node := func(op string, in []string, out ...string) *onnxpb.NodeProto {
		return &onnxpb.NodeProto{OpType: &op, Input: in, Output: out}
	}
	g := &onnxpb.GraphProto{Input: []*onnxpb.ValueInfoProto{vi("x")}}
	prev := "x"
	for i := 0; i < blocks; i++ {
		p := fmt.Sprintf("b%d_", i)
		c := node("Constant", nil, p+"c")
		tname, at := "value", onnxpb.AttributeProto_TENSOR
		c.Attribute = []*onnxpb.AttributeProto{{Name: &tname, Type: &at, T: tensor.FromFloat32s([]int64{4}, []float32{1, 2, 3, 4}).Proto("")}}
		cast, to, it := "to", int64(tensor.Float), onnxpb.AttributeProto_INT
		cn := node("Cast", []string{p + "m"}, p+"k")
		cn.Attribute = []*onnxpb.AttributeProto{{Name: &cast, Type: &it, I: &to}}
		g.Node = append(g.Node, c,
			node("Identity", []string{p + "c"}, p+"i"),
			node("Mul", []string{prev, p + "i"}, p+"m"),
			node("Shape", []string{p + "m"}, p+"s"),
			cn,
			node("Relu", []string{p + "k"}, p+"r"))
		g.ValueInfo = append(g.ValueInfo, vi(p+"m"))
		prev = p + "r"
	}
	g.Output = []*onnxpb.ValueInfoProto{vi(prev)}
	ir := int64(8)
	v := int64(17)
	return &model.Model{Proto: &onnxpb.ModelProto{IrVersion: &ir, Graph: g, OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: &v}}}}
}

// BenchmarkChain measures the optimizer on graphs of growing size; the time
// per node must stay flat (no quadratic index rebuilds).
func BenchmarkChain(b *testing.B) {
	for _, blocks := range []int{500, 5000} {
		b.Run(fmt.Sprintf("nodes=%d", 6*blocks), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				m := chainModel(blocks)
				b.StartTimer()
				if _, err := Run(context.Background(), m, Config{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkModels optimizes the committed transformer models.
func BenchmarkModels(b *testing.B) {
	for _, file := range []string{"bert-tiny.onnx", "gpt2-tiny.onnx"} {
		b.Run(file, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				m, err := model.Load(filepath.Join("..", "..", "testdata", "models", file))
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if _, err := Run(context.Background(), m, Config{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
