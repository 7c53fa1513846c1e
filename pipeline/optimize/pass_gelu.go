package optimize

import (
	"math"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
)

// fuseGelu ("GeluFusion") replaces the erf form of GELU,
// 0.5 * x * (1 + erf(x / sqrt(2))), by one Gelu node. It matches x divided by
// sqrt(2) (or multiplied by its inverse), the Erf, the Add of 1, and the two
// Muls in either grouping: (x * (1 + erf)) * 0.5 or (x * 0.5) * (1 + erf).
// Safe because the value is the same function; every intermediate must be
// read only inside the pattern (no graph output). Gelu exists in ONNX from
// opset 20, so older models are left alone, as ONNX Runtime's basic level
// leaves them.
func fuseGelu(g *graph, r *run) error {
	if g.opset < 20 {
		return nil
	}
	var count int64
	for erf := range g.walk() {
		if g.removed[erf] || !isOp(erf, "Erf") || len(erf.GetOutput()) != 1 {
			continue
		}
		if y, dead, ok := matchGelu(g, erf); ok {
			gelu := &onnxpb.NodeProto{Name: strPtr(g.fresh(baseName(erf) + "/GeluFusion")), OpType: strPtr("Gelu"),
				Input: []string{y.x}, Output: []string{y.out.GetOutput()[0]}}
			g.replaceNode(y.out, gelu)
			g.removeNodes(dead...)
			count++
		}
	}
	r.rewrote(count)
	return nil
}

type geluMatch struct {
	x   string
	out *onnxpb.NodeProto
}

// near reports whether the single-element constant name is within a float32
// rounding of want.
func near(g *graph, name string, want float64) bool {
	v, ok := g.scalarConst(name)
	return ok && math.Abs(v-want) <= 1e-4*math.Abs(want)
}

// otherInput returns the input of a two-input node n that is not name.
func otherInput(n *onnxpb.NodeProto, name string) (string, bool) {
	if len(n.GetInput()) != 2 {
		return "", false
	}
	switch name {
	case n.Input[0]:
		return n.Input[1], n.Input[1] != name
	case n.Input[1]:
		return n.Input[0], true
	}
	return "", false
}

// onlyReader returns the single node reading name, if name is read once and
// is not a graph output.
func onlyReader(g *graph, name string) *onnxpb.NodeProto {
	if !g.singleUse(name) {
		return nil
	}
	return g.consumersOf(name)[0]
}

func matchGelu(g *graph, erf *onnxpb.NodeProto) (geluMatch, []*onnxpb.NodeProto, bool) {
	fail := func() (geluMatch, []*onnxpb.NodeProto, bool) { return geluMatch{}, nil, false }
	scaled := input(erf, 0)
	div := g.producerOf(scaled)
	if div == nil || !g.singleUse(scaled) || len(div.GetInput()) != 2 {
		return fail()
	}
	x := div.Input[0]
	switch {
	case isOp(div, "Div") && near(g, div.Input[1], math.Sqrt2):
	case isOp(div, "Mul") && near(g, div.Input[1], 1/math.Sqrt2):
	case isOp(div, "Mul") && near(g, div.Input[0], 1/math.Sqrt2):
		x = div.Input[1]
	default:
		return fail()
	}
	if t := g.typeOf(x, 0); !t.IsFloat() {
		return fail()
	}
	add := onlyReader(g, erf.Output[0])
	if !isOp(add, "Add") {
		return fail()
	}
	if one, ok := otherInput(add, erf.Output[0]); !ok || !near(g, one, 1) {
		return fail()
	}
	mul := onlyReader(g, add.GetOutput()[0])
	if !isOp(mul, "Mul") {
		return fail()
	}
	other, ok := otherInput(mul, add.GetOutput()[0])
	if !ok {
		return fail()
	}
	if other == x {
		// (x * (1 + erf)) * 0.5
		last := onlyReader(g, mul.GetOutput()[0])
		if !isOp(last, "Mul") {
			return fail()
		}
		if half, ok := otherInput(last, mul.GetOutput()[0]); !ok || !near(g, half, 0.5) {
			return fail()
		}
		return geluMatch{x, last}, []*onnxpb.NodeProto{div, erf, add, mul}, true
	}
	// (x * 0.5) * (1 + erf)
	h := g.producerOf(other)
	if !isOp(h, "Mul") || !g.singleUse(other) {
		return fail()
	}
	if half, ok := otherInput(h, x); !ok || !near(g, half, 0.5) {
		return fail()
	}
	return geluMatch{x, mul}, []*onnxpb.NodeProto{div, erf, add, h}, true
}
