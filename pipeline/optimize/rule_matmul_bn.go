package optimize

import (
	"math"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/model"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// fuseMatMulBN folds a BatchNormalization that reads a 2-D MatMul's output
// into a Gemm: with a = scale / sqrt(var + epsilon) per column n,
// B'[k, n] = B[k, n] * a[n] and C[n] = bias[n] - mean[n] * a[n]. Safe when
// the MatMul's output is read only by the BatchNormalization, A is known to
// have rank 2 (so the normalized axis 1 is the MatMul's N), B and every
// statistic are constant initializers of one float type with N values, and
// the BatchNormalization's extra outputs are absent or unread. ONNX Runtime
// also matches Reshape and Transpose nodes in between; this rule does not,
// since a Transpose there moves the normalized axis off N.
var fuseMatMulBN = rule{
	name: "MatmulBNFusion",
	ops:  []string{"MatMul"},
	apply: func(g *graph, mm *onnxpb.NodeProto) bool {
		if len(mm.GetInput()) != 2 || len(mm.GetOutput()) != 1 || !g.singleUse(mm.GetOutput()[0]) {
			return false
		}
		bn := g.consumersOf(mm.GetOutput()[0])[0]
		if !isOp(bn, "BatchNormalization") || len(bn.GetInput()) != 5 || model.AttrsOf(bn).Int("training_mode", 0) != 0 || input(bn, 0) != mm.GetOutput()[0] {
			return false
		}
		for i := 1; i < len(bn.GetOutput()); i++ {
			if o := bn.GetOutput()[i]; o != "" && (len(g.consumersOf(o)) > 0 || g.isGraphOutput(o)) {
				return false
			}
		}
		if a, ok := g.shape(input(mm, 0)); !ok || len(a) != 2 {
			return false
		}
		b := g.constant(input(mm, 1))
		if b == nil || !b.DType.IsFloat() || len(b.Dims) != 2 {
			return false
		}
		k, n := b.Dims[0], b.Dims[1]
		var p [4][]float64
		for i := range p {
			t := g.constant(input(bn, i+1))
			if t == nil || t.DType != b.DType || len(t.Dims) != 1 || t.Dims[0] != n {
				return false
			}
			p[i] = floats(t)
		}
		eps := float64(model.AttrsOf(bn).Float("epsilon", 1e-5))
		bv := floats(b)
		c := make([]float64, n)
		for j := int64(0); j < n; j++ {
			a := p[0][j] / math.Sqrt(p[3][j]+eps)
			for i := int64(0); i < k; i++ {
				bv[i*n+j] *= a
			}
			c[j] = p[1][j] - p[2][j]*a
		}
		bName := g.fresh("MatMulBnFusion_GemmB_" + input(mm, 1))
		g.addInitializer(bName, tensor.FromFloat64s(b.DType, b.Dims, bv))
		cName := g.fresh("MatMulBnFusion_GemmBias")
		g.addInitializer(cName, tensor.FromFloat64s(b.DType, []int64{n}, c))
		gemm := &onnxpb.NodeProto{Name: strPtr(g.fresh(baseName(mm) + "/MatMulBnFusion_Gemm")), OpType: strPtr("Gemm"),
			Input: []string{input(mm, 0), bName, cName}, Output: []string{bn.GetOutput()[0]}}
		g.replaceNode(bn, gemm)
		g.removeNodes(mm)
		return true
	},
}
