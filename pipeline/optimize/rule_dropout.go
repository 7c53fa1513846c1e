package optimize

import (
	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/model"
)

// eliminateDropout removes Dropout nodes, which pass their input through
// unchanged at inference. Safe when the mask output is absent or unread (not
// a graph output) and, from opset 12 on, the training_mode input is absent
// or a constant false; the ratio does not matter at inference. A Dropout in
// training mode with a constant ratio of 0 (torch exports attention dropout
// so) drops nothing and scales by 1/(1-0): it goes too, as in ONNX Runtime.
var eliminateDropout = rule{
	name: "EliminateDropout",
	ops:  []string{"Dropout"},
	apply: func(g *graph, n *onnxpb.NodeProto) bool {
		if len(n.GetOutput()) == 0 {
			return false
		}
		if mask := outputAt(n, 1); mask != "" && (len(g.consumersOf(mask)) > 0 || g.isGraphOutput(mask)) {
			return false
		}
		if tm := input(n, 2); tm != "" {
			v, ok := g.scalarConst(tm)
			ratio, known := g.scalarConst(input(n, 1))
			if (!ok || v != 0) && !(known && ratio == 0) {
				return false
			}
		}
		if model.AttrsOf(n).Int("is_test", 1) == 0 && g.opset < 7 {
			return false
		}
		return g.bypass(n, input(n, 0), n.GetOutput()[0])
	},
}

// outputAt returns n's output i, or "" if it has fewer.
func outputAt(n *onnxpb.NodeProto, i int) string {
	if i < len(n.GetOutput()) {
		return n.GetOutput()[i]
	}
	return ""
}
