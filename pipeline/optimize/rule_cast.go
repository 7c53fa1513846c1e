package optimize

import (
	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/model"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// eliminateCast removes a Cast to the type its input already has. Safe because
// such a Cast copies its input. The input's type must be known (initializer,
// value_info, graph input or output, or another Cast's `to`); otherwise the
// node stays.
var eliminateCast = rule{
	name: "CastElimination",
	ops:  []string{"Cast"},
	apply: func(g *graph, n *onnxpb.NodeProto) bool {
		if len(n.GetInput()) != 1 || len(n.GetOutput()) != 1 || model.AttrsOf(n).Get("to") == nil {
			return false
		}
		in := g.typeOf(input(n, 0), 0)
		if in == tensor.Undefined || in != tensor.DType(model.AttrsOf(n).Int("to", 0)) {
			return false
		}
		return g.bypass(n, input(n, 0), n.GetOutput()[0])
	},
}
