package optimize

import onnxpb "github.com/quantprep/quantprep/api/onnx"

// fuseConvAdd folds an Add of a per-channel constant into the bias of the
// Conv before it: B' = B + c. Safe when the Conv's output is read only by
// the Add and the constant has the Conv's float type and broadcasts along
// the channel axis only (dims (M,1,...,1), optionally with a leading 1), so
// the output shape does not change.
var fuseConvAdd = rule{
	name: "ConvAddFusion",
	ops:  []string{"Add"},
	apply: func(g *graph, n *onnxpb.NodeProto) bool {
		op, ok := convChannelOperand(g, n)
		if !ok {
			return false
		}
		for i := range op.b {
			op.b[i] += op.v[i]
		}
		return rewriteConv(g, op.conv, n, op.w, nil, op.b, n.GetOutput()[0])
	},
}
