package optimize

import (
	onnxpb "github.com/quantprep/quantprep/api/onnx"
)

// rule is a local rewrite anchored at one node, as ONNX Runtime's RewriteRule:
// a cheap condition, then the rewrite. apply reports whether it changed the
// graph; it must leave the graph valid.
type rule struct {
	name string
	// ops are the op types (ONNX domain) the rule is tried on.
	ops   []string
	apply func(g *graph, n *onnxpb.NodeProto) bool
}

// rules is ONNX Runtime's level-1 rule list (1.30), in its order. Not here:
// CastChainElimination (off unless a session option enables it) and
// LabelEncoderFusion (ai.onnx.ml LabelEncoder chains).
var rules = []rule{
	eliminateIdentity,
	eliminateSlice,
	eliminateUnsqueeze,
	eliminateDropout,
	eliminateExpand,
	eliminateCast,
	eliminatePreShapeNode,
	eliminateNoop,
	fuseDivMul,
	fuseReluClip,
	fuseGemmSum,
	fuseGemmTranspose,
	fuseNotWhere,
	fuseConvAdd,
	fuseConvMul,
	fuseConvBN,
	fusePad,
	fuseMatMulBN,
}
