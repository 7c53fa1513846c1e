package optimize

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"

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

// convWeight is a Conv's constant weight, left encoded: fusions scale it
// per output channel straight from its bytes (scaleWeight), never holding
// it decoded, so a network's weights are not copied four times over.
type convWeight struct {
	tp    *onnxpb.TensorProto
	DType tensor.DType
	Dims  []int64
}

// convWeights returns the constant weight and optional bias of a Conv whose
// output only its consumer reads, or ok false. The bias is zero when absent.
func convWeights(g *graph, conv *onnxpb.NodeProto) (w *convWeight, b []float64, ok bool) {
	if !isOp(conv, "Conv") || len(conv.GetOutput()) != 1 || !g.singleUse(conv.GetOutput()[0]) {
		return nil, nil, false
	}
	tp := g.initializer(input(conv, 1))
	if tp == nil {
		return nil, nil, false
	}
	w = &convWeight{tp: tp, DType: tensor.DType(tp.GetDataType()), Dims: tp.GetDims()}
	if !w.DType.IsFloat() || len(w.Dims) < 3 || tensor.NumElements(w.Dims) < 0 || w.Dims[0] <= 0 {
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

// scaleWeight writes to dst the weight's elements, those of output channel c
// multiplied by scale[c], computed as the decoded path computes them: in
// float64, rounded to float32, then to the weight's type.
func scaleWeight(dst io.Writer, raw []byte, w *convWeight, scale []float64) error {
	d := w.DType
	n := tensor.NumElements(w.Dims)
	if int64(len(raw)) != d.RawSize(n) || int64(len(scale)) != w.Dims[0] {
		return fmt.Errorf("weight %q: %d bytes for %s%v", w.tp.GetName(), len(raw), d, w.Dims)
	}
	width := d.Bits() / 8
	per := int(n / w.Dims[0]) // elements per output channel
	le := binary.LittleEndian
	buf := make([]byte, 0, 1<<20)
	for i := 0; i < int(n); i++ {
		a := scale[i/max(per, 1)]
		x := raw[i*width:]
		switch d {
		case tensor.Float:
			buf = le.AppendUint32(buf, math.Float32bits(float32(float64(math.Float32frombits(le.Uint32(x)))*a)))
		case tensor.Float16:
			buf = le.AppendUint16(buf, tensor.FloatToHalf(float32(float64(tensor.HalfToFloat(le.Uint16(x)))*a)))
		case tensor.BFloat16:
			f := math.Float32frombits(uint32(le.Uint16(x)) << 16)
			buf = le.AppendUint16(buf, tensor.FloatToBFloat16(float32(float64(f)*a)))
		case tensor.Double:
			buf = le.AppendUint64(buf, math.Float64bits(math.Float64frombits(le.Uint64(x))*a))
		default:
			return fmt.Errorf("weight %q: %s is not a float type", w.tp.GetName(), d)
		}
		if len(buf) >= cap(buf)-8 {
			if _, err := dst.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	_, err := dst.Write(buf)
	return err
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
// out (the output of the fused node, which is removed). The new weight is w
// scaled per output channel (scale nil: w's values as they are). It reports
// false, changing nothing, when w's data cannot be read.
func rewriteConv(g *graph, conv, fused *onnxpb.NodeProto, w *convWeight, scale, b []float64, out string) bool {
	wName := g.fresh(input(conv, 1) + "_fused")
	wt := &onnxpb.TensorProto{Name: &wName, DataType: w.tp.DataType, Dims: append([]int64{}, w.Dims...)}
	if scale == nil {
		if !shareData(wt, w.tp) {
			return false
		}
	} else {
		raw, release, err := g.m.RawBytes(w.tp)
		if err != nil {
			return false
		}
		if int64(len(raw)) != w.DType.RawSize(tensor.NumElements(w.Dims)) {
			release()
			return false // bad data: leave the Conv as it is
		}
		size := int64(len(raw))
		write := func(dst io.Writer) error { return scaleWeight(dst, raw, w, scale) }
		if size >= bigValue {
			err = g.m.WriteData(wt, size, write, release)
		} else {
			var buf bytes.Buffer
			if err = write(&buf); err == nil {
				wt.RawData = buf.Bytes()
			}
			release()
		}
		if err != nil {
			return false
		}
	}
	g.addInitializerProto(wt)
	bName := g.fresh(baseName(conv) + "_bias_fused")
	if input(conv, 2) != "" {
		bName = g.fresh(input(conv, 2) + "_fused")
	}
	g.addInitializer(bName, tensor.FromFloat64s(w.DType, []int64{w.Dims[0]}, b))
	g.setInputs(conv, input(conv, 0), wName, bName)
	g.removeNodes(fused)
	g.setOutput(conv, 0, out)
	return true
}

// convChannelOp is a Conv and the per-channel constant of the binary node
// (Add or Mul) that reads it, ready to fold: ConvAddFusion and ConvMulFusion
// differ only in what they do with v.
type convChannelOp struct {
	conv *onnxpb.NodeProto
	w    *convWeight
	// b is the Conv's bias (zero when absent), v the constant's value per
	// output channel.
	b, v []float64
}

// convChannelOperand returns the Conv feeding binary node n and n's other
// operand's value per output channel, or ok false: the Conv's output must be
// read only by n (convWeights), and the operand must be a constant of the
// Conv's type that broadcasts along the channel axis only (channelValues).
func convChannelOperand(g *graph, n *onnxpb.NodeProto) (op convChannelOp, ok bool) {
	if len(n.GetInput()) != 2 || len(n.GetOutput()) != 1 {
		return op, false
	}
	var c *tensor.Tensor
	for i := 0; i < 2 && op.conv == nil; i++ {
		if p := g.producerOf(n.GetInput()[i]); isOp(p, "Conv") {
			if c = g.constant(n.GetInput()[1-i]); c != nil {
				op.conv = p
			}
		}
	}
	if op.conv == nil {
		return op, false
	}
	if op.w, op.b, ok = convWeights(g, op.conv); !ok || c.DType != op.w.DType {
		return op, false
	}
	op.v, ok = channelValues(c, len(op.w.Dims), op.w.Dims[0])
	return op, ok
}
