package optimize

import (
	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// fuseReshapes ("ReshapeFusion") replaces a chain of Reshape nodes, each read
// only by the next, by one Reshape to the chain's final shape (chains with
// Squeeze or Unsqueeze stay, as ONNX Runtime leaves them). Safe because
// Reshape keeps the elements in order and only the final shape matters; that shape must be fully known (from
// value_info or a constant Reshape target without 0 or -1) and have no zero
// dim, so the new target means the same whatever allowzero says. Reshape
// targets computed from Shape nodes are rebuilt first (fuse_reshape_target.go),
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
