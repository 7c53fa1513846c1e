package optimize

import (
	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// fuseMatMulAdd ("MatMulAddFusion") replaces MatMul(A, B) followed by an Add
// of a bias C with Gemm(A, B, C). Safe under ONNX Runtime's conditions, which
// need shapes from value_info (or initializers): the MatMul's output is read
// only by the Add; A and the Add's first input have the same type, float,
// float16 or bfloat16; B has rank 2; C has shape (N), or, when A has rank 2,
// (1, N), (M, 1) or (M, N). When A has another rank its shape must be fully
// static, and A is reshaped to (M, K) before the Gemm and the result back
// after it; such a MatMul is left alone when it is one of the projections of
// an attention block after a LayerNormalization, or its output projection,
// which attention fusion at higher levels wants intact (ONNX Runtime 1.30's
// test; newer versions also skip any MatMul reading Softmax, MatMul,
// Transpose, Reshape).
func fuseMatMulAdd(g *graph, r *run) error {
	var count int64
	attn := &attentionCache{ln: map[*onnxpb.NodeProto]bool{}, add: map[*onnxpb.NodeProto]bool{}}
	for mm := range g.walk() {
		if g.removed[mm] || !isOp(mm, "MatMul") || len(mm.GetInput()) != 2 || len(mm.GetOutput()) != 1 {
			continue
		}
		out := mm.GetOutput()[0]
		if !g.singleUse(out) {
			continue
		}
		add := g.consumersOf(out)[0]
		if !isOp(add, "Add") || len(add.GetInput()) != 2 || add.Input[0] == add.Input[1] {
			continue
		}
		a, b := mm.Input[0], mm.Input[1]
		ta := g.typeOf(a, 0)
		if ta != g.typeOf(add.Input[0], 0) || ta != tensor.Float && ta != tensor.Float16 && ta != tensor.BFloat16 {
			continue
		}
		aDims, okA := g.shape(a)
		bDims, okB := g.shape(b)
		if !okA || !okB || len(aDims) == 0 || len(bDims) != 2 {
			continue
		}
		reshape := len(aDims) != 2
		k, n := bDims[0], bDims[1]
		var m int64
		if reshape {
			if _, static := g.staticShape(a); !static || k < 0 || n < 0 || attn.inAttention(g, mm, add) {
				continue
			}
			m = tensor.NumElements(aDims[:max(len(aDims)-1, 0)])
		}
		bias := add.Input[0]
		if bias == out {
			bias = add.Input[1]
		}
		cDims, ok := g.shape(bias)
		if !ok || n < 0 {
			continue
		}
		if !gemmBiasFits(cDims, aDims[0], n, !reshape) {
			continue
		}
		gemm := &onnxpb.NodeProto{Name: strPtr(g.fresh(baseName(mm) + "/MatMulAddFusion")), OpType: strPtr("Gemm"),
			Input: []string{a, b, bias}, Output: []string{add.Output[0]}}
		if !reshape {
			g.replaceNode(add, gemm)
			g.removeNodes(mm)
			count++
			continue
		}
		inShape := g.fresh("gemm_input_shape")
		g.addInitializer(inShape, tensor.FromInt64s([]int64{2}, []int64{m, k}))
		outDims := append([]int64{}, aDims...)
		outDims[len(outDims)-1] = n
		outShape := g.fresh("gemm_output_shape")
		g.addInitializer(outShape, tensor.FromInt64s([]int64{int64(len(outDims))}, outDims))
		a2, y2 := g.fresh("gemm_input_reshape_arg"), g.fresh("gemm_output_reshape_arg")
		rin := &onnxpb.NodeProto{Name: strPtr(g.fresh("gemm_input_reshape")), OpType: strPtr("Reshape"), Input: []string{a, inShape}, Output: []string{a2}}
		rout := &onnxpb.NodeProto{Name: strPtr(g.fresh("gemm_output_reshape")), OpType: strPtr("Reshape"), Input: []string{y2, outShape}, Output: []string{add.Output[0]}}
		gemm.Input[0], gemm.Output[0] = a2, y2
		g.replaceNode(add, rout)
		g.insertBefore(rout, rin, gemm)
		g.removeNodes(mm)
		count++
	}
	r.rewrote(count)
	return nil
}

func strPtr(s string) *string { return &s }

// attentionCache remembers, during one pass, the attention blocks found so
// far: the LayerNormalization feeding the Q, K and V projections, and the
// Add that ends the block's output projection.
type attentionCache struct {
	ln, add map[*onnxpb.NodeProto]bool
}

// inAttention reports whether the MatMul (with its bias Add) belongs to an
// attention block: it reads a LayerNormalization that feeds three MatMuls
// and one residual Add (and otherwise only Shape nodes), or its Add ends
// the output projection that such a residual Add reads.
func (c *attentionCache) inAttention(g *graph, mm, add *onnxpb.NodeProto) bool {
	ln := g.producerOf(input(mm, 0))
	if c.ln[ln] || c.add[add] {
		return true
	}
	if ln == nil || ln.GetOpType() != "LayerNormalization" || len(ln.GetOutput()) == 0 {
		return false
	}
	lnOut := ln.GetOutput()[0]
	var adds, matmuls, shapes int
	var lnAdd *onnxpb.NodeProto
	users := g.consumersOf(lnOut)
	for _, u := range users {
		switch u.GetOpType() {
		case "Add":
			adds++
			lnAdd = u
		case "MatMul":
			matmuls++
		case "Shape":
			shapes++
		}
	}
	if adds != 1 || matmuls != 3 || shapes != len(users)-4 {
		return false
	}
	other := input(lnAdd, 0)
	if other == lnOut {
		other = input(lnAdd, 1)
	}
	if p := g.producerOf(other); isOp(p, "Add") {
		c.ln[ln] = true
		c.add[p] = true
		return true
	}
	return false
}
