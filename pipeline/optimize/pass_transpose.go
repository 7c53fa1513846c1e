package optimize

import (
	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/model"
)

// optimizeTransposes ("TransposeOptimizer") does the part of ONNX Runtime's
// transpose optimizer that needs no layout reasoning: a Transpose of a
// Transpose becomes one Transpose with the composed permutation (none at all
// when that is the identity), and a Transpose with the identity permutation
// goes. Safe because composing permutations is exact; the inner Transpose
// stays while anything else reads it. Permutations must be explicit, or the
// input's rank known. Pushing transposes through other operators, which
// ONNX Runtime also does, is not done here.
func optimizeTransposes(g *graph, r *run) error {
	var count int64
	for t := range g.walk() {
		if g.removed[t] || !isOp(t, "Transpose") || len(t.GetInput()) != 1 || len(t.GetOutput()) != 1 {
			continue
		}
		perm, ok := transposePerm(g, t)
		if !ok {
			continue
		}
		if inner := g.producerOf(t.Input[0]); isOp(inner, "Transpose") && len(inner.GetInput()) == 1 {
			p1, ok := transposePerm(g, inner)
			if !ok || len(p1) != len(perm) {
				continue
			}
			composed := make([]int64, len(perm))
			for i, p := range perm {
				composed[i] = p1[p]
			}
			src, innerOut := inner.Input[0], inner.Output[0]
			g.setInput(t, 0, src)
			setAttrInts(t, "perm", composed)
			perm = composed
			if len(g.consumersOf(innerOut)) == 0 && !g.isGraphOutput(innerOut) && !g.usedBySubgraph(innerOut) {
				g.removeNodes(inner)
			}
			count++
		}
		if isIdentityPerm(perm) && g.bypass(t, t.Input[0], t.Output[0]) {
			count++
		}
	}
	r.rewrote(count)
	return nil
}

// transposePerm returns a Transpose's permutation, the reversal of the axes
// when the attribute is absent and the input's rank is known.
func transposePerm(g *graph, t *onnxpb.NodeProto) ([]int64, bool) {
	if a := model.AttrsOf(t).Get("perm"); a != nil {
		return a.GetInts(), true
	}
	dims, ok := g.shape(input(t, 0))
	if !ok {
		return nil, false
	}
	perm := make([]int64, len(dims))
	for i := range perm {
		perm[i] = int64(len(dims) - 1 - i)
	}
	return perm, true
}

func isIdentityPerm(p []int64) bool {
	for i, v := range p {
		if v != int64(i) {
			return false
		}
	}
	return true
}
