package optimize

import (
	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/eval"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// eliminateUnsqueeze replaces an Unsqueeze of a constant initializer (with
// constant axes) by an initializer holding the unsqueezed value, named as the
// Unsqueeze's output. Safe because the value is fixed; skipped when the
// output is a graph output, so that it keeps a producer.
var eliminateUnsqueeze = rule{
	name: "UnsqueezeElimination",
	ops:  []string{"Unsqueeze"},
	apply: func(g *graph, n *onnxpb.NodeProto) bool {
		out := outputAt(n, 0)
		if out == "" || g.producesGraphOutput(n) || g.usedBySubgraph(out) {
			return false
		}
		x := g.constant(input(n, 0))
		if x == nil {
			return false
		}
		ins := []*tensor.Tensor{x}
		if axes := input(n, 1); axes != "" {
			a := g.small(axes, maxShapeElems)
			if a == nil {
				return false
			}
			ins = append(ins, a)
		}
		res, err := eval.Run(n, g.opset, ins)
		if err != nil {
			return false
		}
		g.addInitializer(out, res[0])
		g.removeNodes(n)
		return true
	},
}
