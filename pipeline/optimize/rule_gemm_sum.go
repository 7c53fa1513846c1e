package optimize

import (
	"google.golang.org/protobuf/proto"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/model"
)

// fuseGemmSum rewrites Sum(Gemm(A, B), C), for a Gemm without C, as one Gemm
// with C and beta 1. Safe when the Gemm's output is read only by that
// two-input Sum (not a graph output), from opset 11 (where C is optional),
// and C has a shape Gemm broadcasts the same way Sum does: (N), (1, N),
// (M, 1) or (M, N) for the (M, N) product; both shapes must be known.
var fuseGemmSum = rule{
	name: "GemmSumFusion",
	ops:  []string{"Gemm"},
	apply: func(g *graph, gemm *onnxpb.NodeProto) bool {
		if g.opset < 11 || len(gemm.GetInput()) != 2 || len(gemm.GetOutput()) != 1 {
			return false
		}
		out := gemm.GetOutput()[0]
		if !g.singleUse(out) {
			return false
		}
		sum := g.consumersOf(out)[0]
		if !isOp(sum, "Sum") || len(sum.GetInput()) != 2 || sum.Input[0] == sum.Input[1] || len(sum.GetOutput()) != 1 {
			return false
		}
		other := sum.Input[0]
		if other == out {
			other = sum.Input[1]
		}
		m, n, ok := gemmOutputDims(g, gemm)
		if !ok {
			return false
		}
		c, ok := g.shape(other)
		if !ok || !gemmBiasFits(c, m, n, true) {
			return false
		}
		fused := proto.Clone(gemm).(*onnxpb.NodeProto)
		fused.Name = strPtr(g.fresh(baseName(gemm) + "_sum_transformed"))
		fused.Input = []string{gemm.Input[0], gemm.Input[1], other}
		fused.Output = []string{sum.Output[0]}
		var attrs []*onnxpb.AttributeProto
		for _, a := range fused.Attribute {
			if a.GetName() != "beta" {
				attrs = append(attrs, a)
			}
		}
		fused.Attribute = attrs
		g.replaceNode(sum, fused)
		g.removeNodes(gemm)
		return true
	},
}

// gemmOutputDims returns the (M, N) of a Gemm's output, from value_info or
// from the shapes of A and B and the trans flags; -1 for an unknown dim.
func gemmOutputDims(g *graph, gemm *onnxpb.NodeProto) (m, n int64, ok bool) {
	if d, ok := g.shape(gemm.GetOutput()[0]); ok && len(d) == 2 {
		return d[0], d[1], true
	}
	a, okA := g.shape(input(gemm, 0))
	b, okB := g.shape(input(gemm, 1))
	if !okA || !okB || len(a) != 2 || len(b) != 2 {
		return 0, 0, false
	}
	m, n = a[0], b[1]
	if model.AttrsOf(gemm).Int("transA", 0) != 0 {
		m = a[1]
	}
	if model.AttrsOf(gemm).Int("transB", 0) != 0 {
		n = b[0]
	}
	return m, n, true
}

// gemmBiasFits reports whether a bias of dims c broadcasts onto an (m, n)
// product without growing it (unknown dims, -1, never match): (n), or when
// rank2 also (1, n), (m, 1) and (m, n).
func gemmBiasFits(c []int64, m, n int64, rank2 bool) bool {
	known := func(v, want int64) bool { return v >= 0 && v == want }
	switch {
	case len(c) == 1:
		return known(c[0], n)
	case len(c) == 2 && rank2:
		return c[0] == 1 && known(c[1], n) || known(c[0], m) && (c[1] == 1 || known(c[1], n))
	}
	return false
}
