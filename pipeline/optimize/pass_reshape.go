package optimize

import (
	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/model"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// fuseReshapes ("ReshapeFusion") replaces a chain of Reshape nodes, each read
// only by the next, by one Reshape to the chain's final shape (chains with
// Squeeze or Unsqueeze stay, as ONNX Runtime leaves them). Safe because
// Reshape keeps the elements in order and only the final shape matters; that shape must be fully known (from
// value_info or a constant Reshape target without 0 or -1) and have no zero
// dim, so the new target means the same whatever allowzero says. Reshape
// targets computed from Shape nodes are rebuilt first (fuseReshapeTargets),
// as ONNX Runtime's ReshapeFusion also does.
func fuseReshapes(g *graph, r *run) error {
	count := fuseReshapeTargets(g)
	for last := range g.walk() {
		if g.removed[last] || !reshapeLike(last) {
			continue
		}
		// Only start at the end of a chain.
		if out := last.GetOutput()[0]; g.singleUse(out) && reshapeLike(g.consumersOf(out)[0]) {
			continue
		}
		var chain []*onnxpb.NodeProto
		for n := last; ; {
			chain = append(chain, n)
			p := g.producerOf(input(n, 0))
			if p == nil || !reshapeLike(p) || !g.singleUse(p.GetOutput()[0]) {
				break
			}
			n = p
		}
		if len(chain) < 2 {
			continue
		}
		dims, ok := finalShape(g, last)
		if !ok {
			continue
		}
		first := chain[len(chain)-1]
		shape := g.fresh(baseName(last) + "_fused_shape")
		g.addInitializer(shape, tensor.FromInt64s([]int64{int64(len(dims))}, dims))
		fused := &onnxpb.NodeProto{Name: strPtr(g.fresh(baseName(last) + "/ReshapeFusion")), OpType: strPtr("Reshape"),
			Input: []string{input(first, 0), shape}, Output: []string{last.GetOutput()[0]}}
		g.replaceNode(last, fused)
		g.removeNodes(chain[1:]...)
		count++
	}
	r.rewrote(count)
	return nil
}

func reshapeLike(n *onnxpb.NodeProto) bool {
	return isOp(n, "Reshape") && len(n.GetOutput()) == 1 && len(n.GetInput()) == 2
}

// finalShape is the static output shape of n, without zero dims.
func finalShape(g *graph, n *onnxpb.NodeProto) ([]int64, bool) {
	dims, ok := g.staticShape(n.GetOutput()[0])
	if !ok && isOp(n, "Reshape") {
		if s, isConst := constInts(g, input(n, 1)); isConst {
			dims, ok = s, true
		}
	}
	if !ok {
		return nil, false
	}
	for _, d := range dims {
		if d <= 0 {
			return nil, false
		}
	}
	return dims, true
}

// fuseReshapeTargets is the part of ReshapeFusion that rebuilds computed
// Reshape targets, as ONNX Runtime's ReshapeFusion does: a Reshape whose
// target is a Concat (axis 0) of constants and of dims read from a shape
// (Shape, optionally with start/end, or Gather of one element of a Shape,
// optionally Unsqueezed) gets a constant target, and the Concat and whatever
// computed only it go.
//
// Each element of the new target means what the old one did:
//   - a constant stays as it is;
//   - a dim that is static in value_info becomes its value;
//   - a dim of the Reshape's own input that lands at the position it comes
//     from becomes 0, which (allowzero = 0) copies that very dim;
//   - one element that is none of these may become -1 when every other
//     element is a positive number: Reshape then infers it from the element
//     count, and the original target had to give that same value for the
//     Reshape to succeed.
//
// Otherwise the Reshape is left alone. A target that is already constant is
// not touched; with allowzero = 1 only exact values are written, never 0.
func fuseReshapeTargets(g *graph) int64 {
	var count int64
	for n := range g.walk() {
		if g.removed[n] || !reshapeLike(n) || g.initializer(input(n, 1)) != nil {
			continue
		}
		target, ok := reshapeTarget(g, n)
		if !ok {
			continue
		}
		old := input(n, 1)
		name := g.fresh(baseName(n) + "_target")
		g.addInitializer(name, tensor.FromInt64s([]int64{int64(len(target))}, target))
		g.setInput(n, 1, name)
		removeDeadChains(g, []string{old})
		count++
	}
	return count
}

// targetElem is one element of a Reshape target as far as it is known.
type targetElem struct {
	value int64 // the value, when known
	known bool
}

// reshapeTarget is the constant target equivalent to n's computed one.
func reshapeTarget(g *graph, n *onnxpb.NodeProto) ([]int64, bool) {
	cat := g.producerOf(input(n, 1))
	if !isOp(cat, "Concat") || model.AttrsOf(cat).Int("axis", 0) != 0 && model.AttrsOf(cat).Int("axis", 0) != -1 {
		return nil, false
	}
	allowZero := model.AttrsOf(n).Int("allowzero", 0) != 0
	data := input(n, 0)
	var elems []targetElem
	for _, in := range cat.GetInput() {
		part, ok := targetPart(g, in, data, len(elems), allowZero)
		if !ok {
			return nil, false
		}
		elems = append(elems, part...)
	}
	unknown, minusOne := -1, false
	for i, e := range elems {
		switch {
		case !e.known && unknown >= 0:
			return nil, false // two unknown elements
		case !e.known:
			unknown = i
		case e.value == -1:
			minusOne = true
		}
	}
	out := make([]int64, len(elems))
	for i, e := range elems {
		out[i] = e.value
	}
	if unknown < 0 {
		return out, true
	}
	if minusOne || allowZero {
		return nil, false
	}
	for i, e := range elems {
		if i != unknown && e.value <= 0 {
			// 0 copies a dim that may be 0 at run time, and -1 cannot be
			// inferred next to a zero dim: only positive numbers are safe.
			return nil, false
		}
	}
	out[unknown] = -1
	return out, true
}

// targetPart describes the elements that the Concat input name gives, the
// first of which lands at position pos of the target.
func targetPart(g *graph, name, data string, pos int, allowZero bool) ([]targetElem, bool) {
	if v, ok := constInts(g, name); ok {
		if t := g.initializer(name); len(t.GetDims()) != 1 {
			return nil, false
		}
		part := make([]targetElem, len(v))
		for i, x := range v {
			part[i] = targetElem{x, true}
		}
		return part, true
	}
	// dimElem is element axis of src's shape, landing at position at.
	dimElem := func(src string, dims []int64, axis, at int) targetElem {
		switch {
		case dims[axis] >= 0:
			return targetElem{dims[axis], true}
		case src == data && axis == at && !allowZero:
			return targetElem{0, true}
		}
		return targetElem{}
	}
	p := g.producerOf(name)
	switch {
	case isOp(p, "Shape") && len(p.GetInput()) == 1:
		src := input(p, 0)
		dims, ok := g.shape(src)
		if !ok {
			break
		}
		start, end := clampAxis(model.AttrsOf(p).Int("start", 0), len(dims)), clampAxis(model.AttrsOf(p).Int("end", int64(len(dims))), len(dims))
		var part []targetElem
		for a := start; a < end; a++ {
			part = append(part, dimElem(src, dims, a, pos+a-start))
		}
		return part, true
	case isOp(p, "Unsqueeze") || isOp(p, "Gather"):
		gather := p
		if isOp(p, "Unsqueeze") {
			axes, ok := unsqueezeAxes(g, p)
			if !ok || len(axes) != 1 || axes[0] != 0 && axes[0] != -1 {
				break
			}
			gather = g.producerOf(input(p, 0))
		}
		if !isOp(gather, "Gather") || model.AttrsOf(gather).Int("axis", 0) != 0 {
			break
		}
		shp := g.producerOf(input(gather, 0))
		if !isOp(shp, "Shape") || len(shp.GetInput()) != 1 || model.AttrsOf(shp).Get("start") != nil || model.AttrsOf(shp).Get("end") != nil {
			break
		}
		idx, ok := constInts(g, input(gather, 1))
		t := g.initializer(input(gather, 1))
		// One index: a scalar (made 1-D by the Unsqueeze) or a 1-D tensor of one.
		if !ok || len(idx) != 1 || (len(t.GetDims()) == 0) != (gather != p) {
			break
		}
		src := input(shp, 0)
		dims, ok := g.shape(src)
		if !ok {
			break
		}
		a := idx[0]
		if a < 0 {
			a += int64(len(dims))
		}
		if a < 0 || a >= int64(len(dims)) {
			break
		}
		return []targetElem{dimElem(src, dims, int(a), pos)}, true
	}
	// Anything else: unknown elements, as many as its static length.
	dims, ok := g.staticShape(name)
	if !ok || len(dims) != 1 {
		return nil, false
	}
	return make([]targetElem, dims[0]), true
}

// clampAxis is Shape's start or end, negative counting from the end, clamped to [0, rank].
func clampAxis(a int64, rank int) int {
	if a < 0 {
		a += int64(rank)
	}
	return int(min(max(a, 0), int64(rank)))
}

// unsqueezeAxes is an Unsqueeze's axes, from its attribute (before opset 13)
// or its constant second input.
func unsqueezeAxes(g *graph, n *onnxpb.NodeProto) ([]int64, bool) {
	if a := model.AttrsOf(n).Get("axes"); a != nil {
		return a.GetInts(), true
	}
	return constInts(g, input(n, 1))
}
