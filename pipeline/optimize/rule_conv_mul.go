package optimize

import onnxpb "github.com/quantprep/quantprep/api/onnx"

// fuseConvMul folds a Mul by a per-channel constant into the Conv before it:
// W' = W * s and B' = B * s per output channel. Safe under the same
// conditions as fuseConvAdd.
var fuseConvMul = rule{
	name: "ConvMulFusion",
	ops:  []string{"Mul"},
	apply: func(g *graph, n *onnxpb.NodeProto) bool {
		conv, c := convConsumerOperand(g, n)
		if conv == nil {
			return false
		}
		w, b, ok := convWeights(g, conv)
		if !ok || c.DType != w.DType {
			return false
		}
		m := w.Dims[0]
		s, ok := channelValues(c, len(w.Dims), m)
		if !ok {
			return false
		}
		for ch := int64(0); ch < m; ch++ {
			b[ch] *= s[ch]
		}
		return rewriteConv(g, conv, n, w, s, b, n.GetOutput()[0])
	},
}
