package optimize

import (
	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// Constants: reading initializers as values, and what a computed one costs
// in memory (decoded copies kept or released, large ones spilled to disk).

// initializer returns the initializer named name if it is a constant: an
// initializer that is also a graph input can be overridden at run time, so
// it is not one.
func (g *graph) initializer(name string) *onnxpb.TensorProto {
	g.index()
	if g.inputs[name] {
		return nil
	}
	return g.inits[name]
}

// constant returns the decoded value of a constant initializer, or nil if name
// is not one or its data cannot be decoded.
func (g *graph) constant(name string) *tensor.Tensor {
	tp := g.initializer(name)
	if tp == nil {
		return nil
	}
	if t, ok := g.values[tp]; ok {
		return t
	}
	t, err := g.m.Tensor(tp)
	if err != nil {
		t = nil
	}
	g.values[tp] = t
	return t
}

// small returns the value of a constant of at most max elements, judged from
// its dims before anything is decoded: rules that look for a scalar or a
// shape must not decode (or read from external data) every large weight
// they meet.
func (g *graph) small(name string, max int64) *tensor.Tensor {
	tp := g.initializer(name)
	if tp == nil {
		return nil
	}
	if n := tensor.NumElements(tp.GetDims()); n < 0 || n > max {
		return nil
	}
	return g.constant(name)
}

// maxShapeElems bounds the constants read as shapes, axes or indices.
const maxShapeElems = 1 << 12

// scalarConst returns the single value of a constant with one element.
func (g *graph) scalarConst(name string) (float64, bool) {
	t := g.small(name, 1)
	if t == nil || t.Len() != 1 {
		return 0, false
	}
	return t.Float64At(0), true
}

// bigValue is the size in bytes from which a computed initializer is not kept
// decoded beside its proto, and leaves memory for a temporary file when the
// model allows it (model.EnableSpill): torch exports fold into a transposed
// copy of every MatMul weight, which would otherwise hold the model's size in
// memory two or three times over.
const bigValue = 1 << 20

// addInitializer adds t as an initializer named name, replacing one of that name.
func (g *graph) addInitializer(name string, t *tensor.Tensor) {
	tp := t.Proto(name)
	if len(tp.RawData) < bigValue {
		g.values[tp] = t
	} else if _, err := g.m.Spill(tp); err != nil {
		// Spilling only saves memory: without it the value stays inline.
		g.spillErr = err
	}
	g.addInitializerProto(tp)
}

// release forgets the decoded values of the initializers among names that
// are large (they are decoded again if ever needed) or that nothing reads any
// more, so that a folded weight's input is not held in memory until the end
// of the pass.
func (g *graph) release(names []string) {
	for _, name := range names {
		tp := g.initializer(name)
		if tp == nil {
			continue
		}
		if t := g.values[tp]; t == nil || t.DType.RawSize(t.Len()) >= bigValue || len(g.consumersOf(name)) == 0 {
			delete(g.values, tp)
		}
	}
}

// dropUnused removes the initializers among names that nothing reads any
// more (no node, no subgraph, not a graph output; graph inputs stay), as
// removeUnusedInitializers does at the end, but at once: a weight whose
// Transpose was folded must not stay in memory beside its transposed copy
// until the optimizer finishes.
func (g *graph) dropUnused(names []string) {
	for _, name := range names {
		tp := g.initializer(name)
		if tp == nil || len(g.consumersOf(name)) > 0 || g.isGraphOutput(name) || g.usedBySubgraph(name) {
			continue
		}
		delete(g.values, tp)
		delete(g.inits, name)
		for i, t := range g.g.Initializer {
			if t == tp {
				g.g.Initializer = append(g.g.Initializer[:i:i], g.g.Initializer[i+1:]...)
				break
			}
		}
	}
}
