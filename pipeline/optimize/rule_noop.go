package optimize

import (
	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// eliminateNoop removes x+0, 0+x, x-0, x*1, 1*x and x/1 where the constant has
// a single element of x's type. Safe when broadcasting cannot change x's
// shape: the constant's rank must not exceed x's known rank (a scalar always
// passes). x must not itself be the constant side of the pattern.
var eliminateNoop = rule{
	name: "NoopElimination",
	ops:  []string{"Add", "Sub", "Mul", "Div"},
	apply: func(g *graph, n *onnxpb.NodeProto) bool {
		if len(n.GetInput()) != 2 || len(n.GetOutput()) != 1 {
			return false
		}
		neutral := 0.0
		if isOp(n, "Mul") || isOp(n, "Div") {
			neutral = 1
		}
		commutes := isOp(n, "Add") || isOp(n, "Mul")
		for ci := 1; ci >= 0; ci-- {
			if ci == 0 && !commutes {
				break
			}
			c := g.small(n.GetInput()[ci], 1)
			x := n.GetInput()[1-ci]
			if c == nil || c.Len() != 1 || c.Float64At(0) != neutral || g.initializer(x) != nil {
				continue
			}
			if xt := g.typeOf(x, 0); xt == tensor.Undefined || xt != c.DType {
				continue
			}
			if len(c.Dims) > 0 {
				dims, ok := g.shape(x)
				if !ok || len(dims) < len(c.Dims) {
					continue
				}
			}
			return g.bypass(n, x, n.GetOutput()[0])
		}
		return false
	},
}
