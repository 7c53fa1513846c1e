package optimize

import (
	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/model"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// outputTypeRules give the element type of output 0 of ONNX operators whose
// type follows from an input's type or an attribute, so that rules needing a
// type (CastElimination, NoopElimination, ...) work where value_info is
// missing. This is not shape inference: only types, only these operators.
var outputTypeRules = map[string]func(g *graph, n *onnxpb.NodeProto, depth int) tensor.DType{
	"Shape":          fixedType(tensor.Int64),
	"Size":           fixedType(tensor.Int64),
	"NonZero":        fixedType(tensor.Int64),
	"ArgMax":         fixedType(tensor.Int64),
	"ArgMin":         fixedType(tensor.Int64),
	"Equal":          fixedType(tensor.Bool),
	"Less":           fixedType(tensor.Bool),
	"Greater":        fixedType(tensor.Bool),
	"LessOrEqual":    fixedType(tensor.Bool),
	"GreaterOrEqual": fixedType(tensor.Bool),
	"Not":            fixedType(tensor.Bool),
	"And":            fixedType(tensor.Bool),
	"Or":             fixedType(tensor.Bool),
	"Xor":            fixedType(tensor.Bool),
	"IsNaN":          fixedType(tensor.Bool),
	"IsInf":          fixedType(tensor.Bool),
	"Cast": func(g *graph, n *onnxpb.NodeProto, _ int) tensor.DType {
		return tensor.DType(model.AttrsOf(n).Int("to", 0))
	},
	"ConstantOfShape": func(g *graph, n *onnxpb.NodeProto, _ int) tensor.DType {
		if t := model.AttrsOf(n).Get("value").GetT(); t != nil {
			return tensor.DType(t.GetDataType())
		}
		return tensor.Float
	},
}

// sameAsInput0 lists operators whose output 0 has input 0's element type.
var sameAsInput0 = []string{
	"Identity", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Flatten", "Expand",
	"Slice", "Gather", "GatherElements", "GatherND", "Concat", "Split", "Tile", "Pad",
	"Add", "Sub", "Mul", "Div", "Pow", "Neg", "Abs", "Sqrt", "Exp", "Log", "Relu",
	"Sigmoid", "Tanh", "Erf", "Softmax", "LogSoftmax", "MatMul", "Gemm", "Conv", "Range",
	"Min", "Max", "Sum", "Mean", "Clip", "Trilu", "Dropout", "LayerNormalization",
	"BatchNormalization", "ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd",
	"CumSum", "Floor", "Ceil", "Round", "Reciprocal", "Sign", "Mod", "Einsum", "TopK",
}

func init() {
	outputTypeRules["Where"] = inputType(1)
	for _, op := range sameAsInput0 {
		outputTypeRules[op] = inputType(0)
	}
}

func fixedType(d tensor.DType) func(*graph, *onnxpb.NodeProto, int) tensor.DType {
	return func(*graph, *onnxpb.NodeProto, int) tensor.DType { return d }
}

func inputType(i int) func(*graph, *onnxpb.NodeProto, int) tensor.DType {
	return func(g *graph, n *onnxpb.NodeProto, depth int) tensor.DType {
		return g.typeOf(input(n, i), depth+1)
	}
}

// maxTypeDepth bounds the walk up the graph when types come from rules.
const maxTypeDepth = 64

// typeOf is elemType with the operator rules above as a fallback, for output 0
// of the producer.
func (g *graph) typeOf(name string, depth int) tensor.DType {
	if d := g.elemType(name); d != tensor.Undefined || depth > maxTypeDepth {
		return d
	}
	p := g.producerOf(name)
	if p == nil || !model.IsDefaultDomain(p.GetDomain()) || len(p.GetOutput()) == 0 || p.GetOutput()[0] != name {
		return tensor.Undefined
	}
	if f := outputTypeRules[p.GetOpType()]; f != nil {
		return f(g, p, depth)
	}
	return tensor.Undefined
}
