package optimize

import (
	"slices"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/model"
)

// fuseGemmTranspose absorbs a 2-D Transpose (perm 1,0) feeding input A or B of
// a Gemm into the Gemm's transA or transB flag. Safe because Gemm transposes
// that input itself when the flag is set; the Transpose's output must be
// read only by that Gemm (not a graph output).
var fuseGemmTranspose = rule{
	name: "GemmTransposeFusion",
	ops:  []string{"Gemm"},
	apply: func(g *graph, gemm *onnxpb.NodeProto) bool {
		if len(gemm.GetInput()) < 2 || len(gemm.GetOutput()) != 1 {
			return false
		}
		done := false
		for i, flag := range []string{"transA", "transB"} {
			in := input(gemm, i)
			t := g.producerOf(in)
			if !isOp(t, "Transpose") || !g.singleUse(in) || gemm.GetInput()[0] == gemm.GetInput()[1] {
				continue
			}
			perm := model.AttrsOf(t).Get("perm").GetInts()
			if perm != nil && !slices.Equal(perm, []int64{1, 0}) {
				continue
			}
			if perm == nil {
				if dims, ok := g.shape(input(t, 0)); !ok || len(dims) != 2 {
					continue
				}
			}
			setAttrInt(gemm, flag, 1-model.AttrsOf(gemm).Int(flag, 0))
			src := input(t, 0)
			g.removeNodes(t)
			g.setInput(gemm, i, src)
			done = true
		}
		return done
	},
}
