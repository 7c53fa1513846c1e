package optimize

import onnxpb "github.com/quantprep/quantprep/api/onnx"

// fuseDivMul rewrites (1 / x) * y as y / x: the Div by a constant 1 goes and
// the Mul becomes a Div. Safe when the Div's output is read only by that Mul
// (not a graph output) and the constant is a single-element 1 that does not
// raise the rank of x (a scalar or rank at most x's known rank). Only float
// types: for integers 1 / x truncates, so the rewrite would change values.
var fuseDivMul = rule{
	name: "DivMulFusion",
	ops:  []string{"Div"},
	apply: func(g *graph, div *onnxpb.NodeProto) bool {
		if len(div.GetInput()) != 2 || len(div.GetOutput()) != 1 {
			return false
		}
		one := g.small(input(div, 0), 1)
		if one == nil || one.Len() != 1 || one.Float64At(0) != 1 || !one.DType.IsFloat() {
			return false
		}
		x := input(div, 1)
		if len(one.Dims) > 0 {
			dims, ok := g.shape(x)
			if !ok || len(dims) < len(one.Dims) {
				return false
			}
		}
		out := div.GetOutput()[0]
		if !g.singleUse(out) {
			return false
		}
		mul := g.consumersOf(out)[0]
		if !isOp(mul, "Mul") || len(mul.GetInput()) != 2 || mul.GetInput()[0] == mul.GetInput()[1] {
			return false
		}
		other := mul.GetInput()[0]
		if other == out {
			other = mul.GetInput()[1]
		}
		if g.typeOf(other, 0) != one.DType {
			return false
		}
		mul.OpType = div.OpType
		g.removeNodes(div)
		g.setInputs(mul, other, x)
		return true
	},
}
