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

// elemType is the element type of a value, from initializers, value_info,
// graph inputs and outputs, or the `to` of a Cast producing it.
func (g *graph) elemType(name string) tensor.DType {
	g.index()
	if tp := g.inits[name]; tp != nil {
		return tensor.DType(tp.GetDataType())
	}
	if vi := g.info[name]; vi != nil {
		if tt := vi.GetType().GetTensorType(); tt != nil && tt.GetElemType() != 0 {
			return tensor.DType(tt.GetElemType())
		}
	}
	if p := g.producer[name]; p != nil && isOp(p, "Cast") {
		if to := model.AttrsOf(p).Get("to"); to != nil {
			return tensor.DType(to.GetI())
		}
	}
	return tensor.Undefined
}

// shape returns a value's dims (-1 for a dim whose value is unknown) and
// whether its rank is known.
func (g *graph) shape(name string) ([]int64, bool) {
	g.index()
	if tp := g.inits[name]; tp != nil {
		return append([]int64{}, tp.GetDims()...), true
	}
	vi := g.info[name]
	if vi == nil {
		return nil, false
	}
	tt := vi.GetType().GetTensorType()
	if tt == nil || tt.GetShape() == nil {
		return nil, false
	}
	var dims []int64
	for _, d := range tt.GetShape().GetDim() {
		if d.Value != nil {
			if v, ok := d.Value.(*onnxpb.TensorShapeProto_Dimension_DimValue); ok && v.DimValue >= 0 {
				dims = append(dims, v.DimValue)
				continue
			}
		}
		dims = append(dims, -1)
	}
	if dims == nil {
		dims = []int64{}
	}
	return dims, true
}

// staticShape returns a value's dims when all are known.
func (g *graph) staticShape(name string) ([]int64, bool) {
	dims, ok := g.shape(name)
	if !ok {
		return nil, false
	}
	for _, d := range dims {
		if d < 0 {
			return nil, false
		}
	}
	return dims, true
}
