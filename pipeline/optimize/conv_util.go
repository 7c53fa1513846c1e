package optimize

import (
	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// floats returns a float tensor's values as float64.
func floats(t *tensor.Tensor) []float64 {
	n := int(t.Len())
	v := make([]float64, n)
	switch {
	case t.F32 != nil:
		for i, x := range t.F32[:n] {
			v[i] = float64(x)
		}
	case t.F64 != nil:
		copy(v, t.F64)
	default:
		for i := range v {
			v[i] = t.Float64At(i)
		}
	}
	return v
}

// convWeights returns the constant weight and optional bias of a Conv whose
// output only its consumer reads, or ok false. The bias is zero when absent.
func convWeights(g *graph, conv *onnxpb.NodeProto) (w *tensor.Tensor, b []float64, ok bool) {
	if !isOp(conv, "Conv") || len(conv.GetOutput()) != 1 || !g.singleUse(conv.GetOutput()[0]) {
		return nil, nil, false
	}
	w = g.constant(input(conv, 1))
	if w == nil || !w.DType.IsFloat() || len(w.Dims) < 3 {
		return nil, nil, false
	}
	m := w.Dims[0]
	if bn := input(conv, 2); bn != "" {
		bt := g.constant(bn)
		if bt == nil || bt.DType != w.DType || bt.Len() != m {
			return nil, nil, false
		}
		return w, floats(bt), true
	}
	return w, make([]float64, m), true
}

// channelValues returns the values of a constant that broadcasts along the
// channel axis of a Conv output of rank `rank` with m channels: dims (m, 1,
// ..., 1) aligned to axis 1, optionally with a leading 1. A single element
// is broadcast to all channels.
func channelValues(t *tensor.Tensor, rank int, m int64) ([]float64, bool) {
	if t.Len() == 1 && len(t.Dims) <= rank {
		v := make([]float64, m)
		for i := range v {
			v[i] = t.Float64At(0)
		}
		return v, true
	}
	r := len(t.Dims)
	if r != rank && r != rank-1 {
		return nil, false
	}
	off := rank - r // position in the output of t's axis 0
	for i, d := range t.Dims {
		axis := off + i
		switch {
		case axis == 1 && d == m:
		case axis != 1 && d == 1:
		default:
			return nil, false
		}
	}
	return floats(t), true
}

// rewriteConv gives conv new weight and bias initializers and makes it produce
// out (the output of the fused node, which is removed).
func rewriteConv(g *graph, conv, fused *onnxpb.NodeProto, w *tensor.Tensor, wv, b []float64, out string) {
	wName := g.fresh(input(conv, 1) + "_fused")
	g.addInitializer(wName, tensor.FromFloat64s(w.DType, w.Dims, wv))
	bName := g.fresh(baseName(conv) + "_bias_fused")
	if input(conv, 2) != "" {
		bName = g.fresh(input(conv, 2) + "_fused")
	}
	g.addInitializer(bName, tensor.FromFloat64s(w.DType, []int64{w.Dims[0]}, b))
	g.setInputs(conv, input(conv, 0), wName, bName)
	g.removeNodes(fused)
	g.setOutput(conv, 0, out)
}

// convConsumerOperand returns the Conv feeding binary node n and n's other,
// constant operand, or nil.
func convConsumerOperand(g *graph, n *onnxpb.NodeProto) (*onnxpb.NodeProto, *tensor.Tensor) {
	if len(n.GetInput()) != 2 || len(n.GetOutput()) != 1 {
		return nil, nil
	}
	for i := 0; i < 2; i++ {
		if p := g.producerOf(n.GetInput()[i]); isOp(p, "Conv") {
			if c := g.constant(n.GetInput()[1-i]); c != nil {
				return p, c
			}
		}
	}
	return nil, nil
}
