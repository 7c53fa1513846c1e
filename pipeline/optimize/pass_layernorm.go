package optimize

import (
	"slices"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/model"
)

// fuseLayerNorm ("LayerNormFusion") replaces layer normalization spelled out
// over the last axis,
//
//	m = ReduceMean(x); d = x - m; v = ReduceMean(d ^ 2)
//	y = d / Sqrt(v + eps) * scale + bias
//
// (d may be computed twice, as older torch exports do), by one
// LayerNormalization(x, scale, bias) with axis -1 and epsilon eps. Safe
// because that is LayerNormalization's definition: both ReduceMeans reduce
// the last axis only with keepdims, the exponent is 2, eps is a constant,
// scale and bias are 1-D constants of the normalized size, and every
// intermediate is read only inside the pattern. LayerNormalization exists in
// ONNX from opset 17, so older models are left alone, as ONNX Runtime's basic
// level leaves them.
func fuseLayerNorm(g *graph, r *run) error {
	if g.opset < 17 {
		return nil
	}
	var count int64
	for rm := range g.walk() {
		if g.removed[rm] || !isOp(rm, "ReduceMean") {
			continue
		}
		ln, dead, ok := matchLayerNorm(g, rm)
		if !ok {
			continue
		}
		g.replaceNode(dead[len(dead)-1], ln)
		g.removeNodes(dead[:len(dead)-1]...)
		count++
	}
	r.rewrote(count)
	return nil
}

// lastAxisMean reports whether n is a ReduceMean over the last axis of its
// input, keeping dims.
func lastAxisMean(g *graph, n *onnxpb.NodeProto) bool {
	if !isOp(n, "ReduceMean") || len(n.GetOutput()) != 1 || model.AttrsOf(n).Int("keepdims", 1) != 1 {
		return false
	}
	var axes []int64
	if g.opset >= 18 {
		var ok bool
		if axes, ok = constInts(g, input(n, 1)); !ok {
			return false
		}
	} else {
		axes = model.AttrsOf(n).Get("axes").GetInts()
	}
	if len(axes) != 1 {
		return false
	}
	if axes[0] == -1 {
		return true
	}
	dims, ok := g.shape(input(n, 0))
	return ok && axes[0] == int64(len(dims)-1)
}

func matchLayerNorm(g *graph, rm *onnxpb.NodeProto) (*onnxpb.NodeProto, []*onnxpb.NodeProto, bool) {
	if !lastAxisMean(g, rm) {
		return nil, nil, false
	}
	x, mean := input(rm, 0), rm.GetOutput()[0]
	if t := g.typeOf(x, 0); !t.IsFloat() || g.isGraphOutput(mean) || g.usedBySubgraph(mean) {
		return nil, nil, false
	}
	subs := g.consumersOf(mean)
	if len(subs) < 1 || len(subs) > 2 {
		return nil, nil, false
	}
	for _, s := range subs {
		if !isOp(s, "Sub") || len(s.GetInput()) != 2 || s.Input[0] != x || s.Input[1] != mean ||
			g.isGraphOutput(s.GetOutput()[0]) || g.usedBySubgraph(s.GetOutput()[0]) {
			return nil, nil, false
		}
	}
	// Find Pow and Div among the readers of the Sub outputs.
	var pow, div *onnxpb.NodeProto
	readers := 0
	for _, s := range subs {
		for _, c := range g.consumersOf(s.GetOutput()[0]) {
			readers++
			switch {
			case isOp(c, "Pow") && input(c, 0) == s.GetOutput()[0] && pow == nil:
				pow = c
			case isOp(c, "Div") && input(c, 0) == s.GetOutput()[0] && div == nil:
				div = c
			default:
				return nil, nil, false
			}
		}
	}
	if pow == nil || div == nil || readers != 2 || !near(g, input(pow, 1), 2) {
		return nil, nil, false
	}
	rm2 := onlyReader(g, pow.GetOutput()[0])
	if !lastAxisMean(g, rm2) {
		return nil, nil, false
	}
	add := onlyReader(g, rm2.GetOutput()[0])
	if !isOp(add, "Add") {
		return nil, nil, false
	}
	epsName, ok := otherInput(add, rm2.GetOutput()[0])
	eps, isConst := g.scalarConst(epsName)
	if !ok || !isConst || eps < 0 {
		return nil, nil, false
	}
	sqrt := onlyReader(g, add.GetOutput()[0])
	if !isOp(sqrt, "Sqrt") || input(div, 1) != sqrt.GetOutput()[0] || !g.singleUse(sqrt.GetOutput()[0]) {
		return nil, nil, false
	}
	mul := onlyReader(g, div.GetOutput()[0])
	if !isOp(mul, "Mul") {
		return nil, nil, false
	}
	scale, ok := otherInput(mul, div.GetOutput()[0])
	if !ok {
		return nil, nil, false
	}
	last := onlyReader(g, mul.GetOutput()[0])
	if !isOp(last, "Add") {
		return nil, nil, false
	}
	bias, ok := otherInput(last, mul.GetOutput()[0])
	if !ok {
		return nil, nil, false
	}
	st, bt := g.constant(scale), g.constant(bias)
	xt := g.typeOf(x, 0)
	if st == nil || bt == nil || len(st.Dims) != 1 || !slices.Equal(st.Dims, bt.Dims) || st.DType != xt || bt.DType != xt {
		return nil, nil, false
	}
	if dims, ok := g.shape(x); ok && len(dims) > 0 && dims[len(dims)-1] >= 0 && dims[len(dims)-1] != st.Dims[0] {
		return nil, nil, false
	}
	ln := &onnxpb.NodeProto{Name: strPtr(g.fresh(baseName(rm) + "/LayerNormFusion")), OpType: strPtr("LayerNormalization"),
		Input: []string{x, scale, bias}, Output: []string{last.GetOutput()[0]}}
	setAttrInt(ln, "axis", -1)
	setAttrFloat(ln, "epsilon", float32(eps))
	dead := append([]*onnxpb.NodeProto{rm}, subs...)
	dead = append(dead, pow, rm2, add, sqrt, div, mul, last)
	return ln, dead, true
}
