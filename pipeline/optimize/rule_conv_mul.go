package optimize

import onnxpb "github.com/quantprep/quantprep/api/onnx"

// fuseConvMul folds a Mul by a per-channel constant into the Conv before it:
// W' = W * s and B' = B * s per output channel. Safe under the same
// conditions as fuseConvAdd.
var fuseConvMul = rule{
	name: "ConvMulFusion",
	ops:  []string{"Mul"},
	apply: func(g *graph, n *onnxpb.NodeProto) bool {
		op, ok := convChannelOperand(g, n)
		if !ok {
			return false
		}
		for i := range op.b {
			op.b[i] *= op.v[i]
		}
		return rewriteConv(g, op.conv, n, op.w, op.v, op.b, n.GetOutput()[0])
	},
}
