package optimize

import (
	"fmt"

	"github.com/quantprep/quantprep/pipeline/tensor"
)

// shareable are the element types whose constants are shared.
var shareable = map[tensor.DType]bool{tensor.Float: true, tensor.Float16: true, tensor.Double: true, tensor.Int32: true, tensor.Int64: true}

// shareConstants ("ConstantSharing") makes nodes that read single-element
// constant initializers (scalars or shape (1), of the types ONNX Runtime
// shares) of the same type, shape and value read one of them, so that common
// subexpression elimination sees their consumers as equal. Safe because the
// values are bit-identical (so 0 and -0 stay apart). Initializers that are
// graph inputs or outputs, or that a subgraph reads, are left alone.
func shareConstants(g *graph, r *run) error {
	g.index()
	first := map[string]string{}
	var n int64
	for _, tp := range g.g.GetInitializer() {
		name := tp.GetName()
		if g.inputs[name] || g.outputs[name] || g.implicit[name] || len(g.consumers[name]) == 0 {
			continue
		}
		t := g.small(name, 1)
		if t == nil || !shareable[t.DType] || len(t.Dims) > 1 || t.Len() != 1 {
			continue
		}
		key := fmt.Sprintf("%d|%v|%x", t.DType, t.Dims, t.Raw())
		if keep, ok := first[key]; ok {
			g.replaceUses(name, keep)
			n++
			continue
		}
		first[key] = name
	}
	r.rewrote(n)
	return nil
}
