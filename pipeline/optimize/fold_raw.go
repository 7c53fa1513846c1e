package optimize

import (
	"fmt"
	"io"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/eval"
	"github.com/quantprep/quantprep/pipeline/model"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// rawFoldMin is the size in bytes from which a data-movement node on a
// constant is folded on raw bytes (foldMovement); smaller ones go through
// Tensor like every other node, which keeps their decoded value at hand.
const rawFoldMin = 64 << 10

// foldMovement is constant folding's path for Transpose, Reshape, Flatten,
// Squeeze, Unsqueeze, Identity and Cast-to-same on a large constant: the
// output is computed from the input's bytes, never decoded. A reshaping
// node's output shares its input's data (the same bytes in memory, in the
// mapped model file or in an external file); a Transpose's output is
// permuted element by element when it is needed: with spilling enabled, at
// save, straight into the output file (model.WriteData). Torch exports hold a
// transposed copy of every MatMul weight: this is where they fold.
//
// It is safe because the values are exactly those the kernels compute: the
// output dims come from the kernels' own shape rules (eval.MovementOf), and
// moving bytes loses nothing (not even a NaN's payload). It reports false,
// having changed nothing, for any node it does not handle, which then takes
// the general path. Once folded, the node and what fed only it are removed.
// The run's fold budget is charged as chargeFold charges any fold, in stored
// bytes: the output, less the input when the fold leaves it unused.
func foldMovement(g *graph, n *onnxpb.NodeProto, r *run) (bool, error) {
	if !eval.IsMovement(n) || len(n.GetOutput()) != 1 || n.GetOutput()[0] == "" || len(n.GetInput()) == 0 {
		return false, nil
	}
	tp := g.initializer(input(n, 0))
	if tp == nil || tp.GetSegment() != nil {
		return false, nil
	}
	d := tensor.DType(tp.GetDataType())
	width := d.Bits() / 8
	if !d.Known() || d == tensor.String || d.Bits()%8 != 0 || width == 0 {
		return false, nil
	}
	size := d.RawSize(tensor.NumElements(tp.GetDims()))
	if size < rawFoldMin {
		return false, nil
	}
	ins := []*tensor.Tensor{{DType: d, Dims: tp.GetDims()}}
	for _, name := range n.GetInput()[1:] {
		if name == "" {
			ins = append(ins, nil)
			continue
		}
		t := g.small(name, maxShapeElems)
		if t == nil {
			return false, nil
		}
		ins = append(ins, t)
	}
	mv, ok, err := eval.MovementOf(n, g.opset, ins)
	if err != nil || !ok {
		return false, nil // the general path reports the kernel's error
	}
	if err := r.chargeRaw(g, n, size); err != nil {
		return false, fmt.Errorf("%s: %w", nodeDesc(n), err)
	}
	name := n.GetOutput()[0]
	out := &onnxpb.TensorProto{Name: &name, DataType: tp.DataType, Dims: mv.Dims}
	if mv.Steps == nil {
		if !shareData(out, tp) {
			r.foldGrown -= size
			return false, nil
		}
	} else {
		raw, release, err := g.m.RawBytes(tp)
		if err != nil || int64(len(raw)) != size {
			if release != nil {
				release()
			}
			r.foldGrown -= size
			return false, nil
		}
		if err := g.m.WriteData(out, size, func(w io.Writer) error { return eval.PermuteRaw(w, raw, width, mv) }, release); err != nil {
			r.foldGrown -= size
			return false, err
		}
	}
	g.addInitializerProto(out)
	in := input(n, 0)
	removeFolded(g, n)
	if g.initializer(in) == nil && !g.isGraphOutput(in) {
		r.foldGrown -= size // the input is gone (creditFold's rule)
	}
	return true, nil
}

// chargeRaw charges a raw fold whose output is size bytes to the run's fold
// budget, as chargeFold charges a decoded one.
func (r *run) chargeRaw(g *graph, n *onnxpb.NodeProto, size int64) error {
	in := input(n, 0)
	only := !g.isGraphOutput(in) && !g.usedBySubgraph(in)
	for _, c := range g.consumersOf(in) {
		only = only && c == n
	}
	grow := size
	if only {
		grow = 0
	}
	lim := r.cfg.MaxFoldTotalBytes
	if lim <= 0 {
		lim = DefaultMaxFoldTotalBytes
	}
	if grow > 0 && r.foldGrown+grow > lim {
		return fmt.Errorf("%w: folding would grow the model by %d bytes more, over the run's %d (%d used)", eval.ErrOverBudget, grow, lim, r.foldGrown)
	}
	r.foldGrown += size
	return nil
}

// shareData gives dst the data of src without copying it: the same raw
// bytes, or the same external data entries. Typed data (float_data, ...) is
// converted to raw bytes.
func shareData(dst, src *onnxpb.TensorProto) bool {
	if model.IsExternal(src) {
		for _, e := range src.GetExternalData() {
			k, v := e.GetKey(), e.GetValue()
			dst.ExternalData = append(dst.ExternalData, &onnxpb.StringStringEntryProto{Key: &k, Value: &v})
		}
		dst.DataLocation = onnxpb.TensorProto_EXTERNAL.Enum()
		return true
	}
	raw, err := tensor.RawData(src)
	if err != nil {
		return false
	}
	dst.RawData = raw
	return true
}
