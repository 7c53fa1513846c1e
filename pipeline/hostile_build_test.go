package pipeline

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// Builders of the tiny hostile models: a few hundred bytes each that ask for
// gigabytes or for exponential work.

func hNode(name, op string, ins, outs []string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
	return &onnxpb.NodeProto{Name: proto.String(name), OpType: proto.String(op), Input: ins, Output: outs, Attribute: attrs}
}

func hVI(name string, elem tensor.DType, dims ...int64) *onnxpb.ValueInfoProto {
	e := int32(elem)
	tt := &onnxpb.TypeProto_Tensor{ElemType: &e}
	if dims != nil {
		tt.Shape = &onnxpb.TensorShapeProto{}
		for _, d := range dims {
			tt.Shape.Dim = append(tt.Shape.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}})
		}
	}
	return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: tt}}}
}

func hInts(name string, dims []int64, v ...int64) *onnxpb.TensorProto {
	return tensor.FromInt64s(dims, v).Proto(name)
}

func hFloats(name string, dims []int64, v ...float32) *onnxpb.TensorProto {
	return tensor.FromFloat32s(dims, v).Proto(name)
}

func hAttrInt(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(v)}
}

func hAttrGraph(name string, g *onnxpb.GraphProto) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_GRAPH.Enum(), G: g}
}

// hModel is a model of one graph at opset 17.
func hModel(nodes []*onnxpb.NodeProto, inits []*onnxpb.TensorProto, ins, outs []*onnxpb.ValueInfoProto) *onnxpb.ModelProto {
	return &onnxpb.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)}},
		Graph:       &onnxpb.GraphProto{Name: proto.String("g"), Node: nodes, Initializer: inits, Input: ins, Output: outs},
	}
}

// nestedIfs is y = If(c){If(c){...{Identity(x)}...}}{Identity(x)}, depth
// levels deep; every branch reads x and c from the main graph.
func nestedIfs(depth int) *onnxpb.ModelProto {
	var inner *onnxpb.GraphProto
	for k := depth; k >= 1; k-- {
		out := fmt.Sprintf("y%d", k)
		elseG := &onnxpb.GraphProto{Name: proto.String(fmt.Sprintf("else%d", k)),
			Node:   []*onnxpb.NodeProto{hNode(fmt.Sprintf("id%d", k), "Identity", []string{"x"}, []string{out + "e"})},
			Output: []*onnxpb.ValueInfoProto{hVI(out+"e", tensor.Float)}}
		var thenG *onnxpb.GraphProto
		if inner == nil {
			thenG = &onnxpb.GraphProto{Name: proto.String(fmt.Sprintf("then%d", k)),
				Node:   []*onnxpb.NodeProto{hNode(fmt.Sprintf("neg%d", k), "Neg", []string{"x"}, []string{out + "t"})},
				Output: []*onnxpb.ValueInfoProto{hVI(out+"t", tensor.Float)}}
		} else {
			thenG = inner
		}
		ifNode := hNode(fmt.Sprintf("if%d", k), "If", []string{"c"}, []string{out}, hAttrGraph("then_branch", thenG), hAttrGraph("else_branch", elseG))
		inner = &onnxpb.GraphProto{Name: proto.String(fmt.Sprintf("level%d", k)), Node: []*onnxpb.NodeProto{ifNode},
			Output: []*onnxpb.ValueInfoProto{hVI(out, tensor.Float)}}
	}
	m := hModel(inner.Node, nil, []*onnxpb.ValueInfoProto{hVI("c", tensor.Bool), hVI("x", tensor.Float, 4)},
		[]*onnxpb.ValueInfoProto{hVI("y1", tensor.Float)})
	return m
}

// exponentialFunctions is a model whose main graph calls F_depth, where F_k
// calls F_{k-1} twice and F_0 is a Neg: 2^depth nodes once expanded.
func exponentialFunctions(depth int) *onnxpb.ModelProto {
	m := hModel([]*onnxpb.NodeProto{{Name: proto.String("call"), OpType: proto.String(fmt.Sprintf("F%d", depth)), Domain: proto.String("local"),
		Input: []string{"x"}, Output: []string{"y"}}}, nil,
		[]*onnxpb.ValueInfoProto{hVI("x", tensor.Float, 4)}, []*onnxpb.ValueInfoProto{hVI("y", tensor.Float)})
	m.OpsetImport = append(m.OpsetImport, &onnxpb.OperatorSetIdProto{Domain: proto.String("local"), Version: proto.Int64(1)})
	std := []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)}, {Domain: proto.String("local"), Version: proto.Int64(1)}}
	m.Functions = append(m.Functions, &onnxpb.FunctionProto{Name: proto.String("F0"), Domain: proto.String("local"),
		Input: []string{"a"}, Output: []string{"b"}, OpsetImport: std,
		Node: []*onnxpb.NodeProto{hNode("neg", "Neg", []string{"a"}, []string{"b"})}})
	for k := 1; k <= depth; k++ {
		callee := fmt.Sprintf("F%d", k-1)
		m.Functions = append(m.Functions, &onnxpb.FunctionProto{Name: proto.String(fmt.Sprintf("F%d", k)), Domain: proto.String("local"),
			Input: []string{"a"}, Output: []string{"b"}, OpsetImport: std,
			Node: []*onnxpb.NodeProto{
				{Name: proto.String("c1"), OpType: proto.String(callee), Domain: proto.String("local"), Input: []string{"a"}, Output: []string{"t"}},
				{Name: proto.String("c2"), OpType: proto.String(callee), Domain: proto.String("local"), Input: []string{"t"}, Output: []string{"b"}},
			}})
	}
	return m
}
