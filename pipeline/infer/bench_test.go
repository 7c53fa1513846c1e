package infer

import (
	"context"
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/model"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// genModel builds a transformer-like chain of blocks of 10 nodes each: shape
// arithmetic feeding a Reshape, then MatMul, Add, Relu and Transposes, all on
// [batch, sequence, 64].
func genModel(blocks int) *model.Model {
	g := &onnxpb.GraphProto{Name: proto.String("bench")}
	dim := func(p string, v int64) *onnxpb.TensorShapeProto_Dimension {
		if p != "" {
			return &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: p}}
		}
		return &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: v}}
	}
	g.Input = append(g.Input, &onnxpb.ValueInfoProto{Name: proto.String("x0"), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{
		ElemType: proto.Int32(int32(tensor.Float)),
		Shape:    &onnxpb.TensorShapeProto{Dim: []*onnxpb.TensorShapeProto_Dimension{dim("batch", 0), dim("sequence", 0), dim("", 64)}},
	}}}})
	g.Initializer = append(g.Initializer,
		tensor.FromInt64s(nil, []int64{0}).Proto("i0"),
		tensor.FromInt64s(nil, []int64{1}).Proto("i1"),
		tensor.FromInt64s([]int64{1}, []int64{0}).Proto("ax0"),
		tensor.FromInt64s([]int64{2}, []int64{8, 8}).Proto("heads"),
		tensor.New(tensor.Float, []int64{64, 64}).Proto("w"),
		tensor.New(tensor.Float, []int64{64}).Proto("b"),
	)
	node := func(op string, in []string, out string, attrs ...*onnxpb.AttributeProto) {
		g.Node = append(g.Node, &onnxpb.NodeProto{OpType: proto.String(op), Input: in, Output: []string{out}, Name: proto.String(out), Attribute: attrs})
	}
	perm := func(p ...int64) *onnxpb.AttributeProto {
		return &onnxpb.AttributeProto{Name: proto.String("perm"), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: p}
	}
	x := "x0"
	for i := 0; i < blocks; i++ {
		p := func(s string) string { return fmt.Sprintf("%s_%d", s, i) }
		node("Shape", []string{x}, p("shape"))
		node("Gather", []string{p("shape"), "i0"}, p("b"))
		node("Unsqueeze", []string{p("b"), "ax0"}, p("bu"))
		node("Gather", []string{p("shape"), "i1"}, p("s"))
		node("Unsqueeze", []string{p("s"), "ax0"}, p("su"))
		node("Concat", []string{p("bu"), p("su"), "heads"}, p("cat"), &onnxpb.AttributeProto{Name: proto.String("axis"), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(0)})
		node("Reshape", []string{x, p("cat")}, p("r"))
		node("Transpose", []string{p("r")}, p("t"), perm(0, 2, 1, 3))
		node("Transpose", []string{p("t")}, p("t2"), perm(0, 2, 1, 3))
		node("Reshape", []string{p("t2"), p("shape")}, p("back"))
		node("MatMul", []string{p("back"), "w"}, p("mm"))
		node("Add", []string{p("mm"), "b"}, p("add"))
		node("Relu", []string{p("add")}, p("relu"))
		x = p("relu")
	}
	g.Output = append(g.Output, &onnxpb.ValueInfoProto{Name: proto.String(x)})
	return &model.Model{Proto: &onnxpb.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)}},
		Graph:       g,
	}}
}

// BenchmarkInfer1000 infers a generated model of about 1,000 nodes; the
// target is under 20 ms.
func BenchmarkInfer1000(b *testing.B) { benchInfer(b, 77) } // 13 nodes per block

// BenchmarkInfer10000 is ten times larger, to show that time grows linearly.
func BenchmarkInfer10000(b *testing.B) { benchInfer(b, 770) }

func benchInfer(b *testing.B, blocks int) {
	base := genModel(blocks)
	for b.Loop() {
		b.StopTimer()
		m := &model.Model{Proto: proto.Clone(base.Proto).(*onnxpb.ModelProto)}
		b.StartTimer()
		if _, err := Run(context.Background(), m, Config{Mode: Symbolic}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestGenModel checks the benchmark's model infers fully, so the benchmark
// measures the real work.
func TestGenModel(t *testing.T) {
	m := genModel(20)
	res, err := Run(context.Background(), m, Config{Mode: Symbolic})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) > 0 || res.Counts["full_shape"] != int64(len(m.Graph().GetNode())) {
		t.Fatalf("warnings %v, counts %v", res.Warnings, res.Counts)
	}
	last := m.Graph().GetOutput()[0]
	if got := typeFromProto(last.GetType()).String(); got != "float[batch,sequence,64]" {
		t.Errorf("output %s", got)
	}
}
