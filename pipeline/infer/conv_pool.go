// conv_pool.go: convolutions and pooling over spatial axes.

package infer

import (
	"github.com/quantprep/quantprep/pipeline/sym"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

var convPoolOps = concatOps(
	[]Op{
		{Name: "Conv", Since: 1, Rule: inferConv(0, 1, 0)},
		{Name: "ConvInteger", Since: 10, Rule: inferConv(0, 1, tensor.Int32)},
		{Name: "QLinearConv", Since: 10, Rule: inferConv(0, 3, -1)},
		{Name: "ConvTranspose", Since: 1, Rule: inferConvTranspose},
		{Name: "MaxPool", Since: 1, Rule: inferPool},
		{Name: "AveragePool", Since: 1, Rule: inferPool},
		{Name: "LpPool", Since: 1, Rule: inferPool},
		{Name: "CausalConvWithState", Since: 27, Rule: inferCausalConv},
		{Name: "GlobalAveragePool", Since: 1, Rule: inferGlobalPool},
		{Name: "GlobalMaxPool", Since: 1, Rule: inferGlobalPool},
		{Name: "GlobalLpPool", Since: 1, Rule: inferGlobalPool},
	},
	// Versions where ONNX changed the schema and the row before still holds.
	same("AveragePool", "count_include_pad changes values, not the shape", 7),
	same("AveragePool", "ceil_mode: the rule reads it at every version (absent before 10: floor)", 10),
	same("AveragePool", whyDoc, 11),
	same("AveragePool", "dilations: the rule reads them at every version (absent before 19: 1)", 19),
	same("AveragePool", whyNewTypes, 22),
	same("Conv", whyDoc, 11),
	same("Conv", whyNewTypes, 22),
	same("ConvTranspose", whyDoc, 11),
	same("ConvTranspose", whyNewTypes, 22),
	same("GlobalAveragePool", whyNewTypes, 22),
	same("GlobalLpPool", "p became an int: the output shape does not depend on it", 2),
	same("GlobalLpPool", whyNewTypes, 22),
	same("GlobalMaxPool", whyNewTypes, 22),
	same("LpPool", "kernel_shape required, p an int: the rule reads kernel_shape at every version", 2),
	same("LpPool", whyDoc, 11),
	same("LpPool", "ceil_mode: the rule reads it at every version (absent before 18: floor)", 18),
	same("LpPool", whyNewTypes, 22),
	same("MaxPool", "storage_order and the Indices output: the rule gives Indices Y's shape at every version", 8),
	same("MaxPool", "ceil_mode and dilations: the rule reads them at every version (absent before 10: floor, 1)", 10),
	same("MaxPool", whyDoc, 11),
	same("MaxPool", whyTypes, 12),
	same("MaxPool", whyNewTypes, 22),
)

// window holds the attributes of a sliding window over n spatial axes.
type window struct {
	kernel, strides, dilations, pads []int64
	autoPad                          string
	ceil                             bool
	// pool: a pooling window, sized as ONNX Runtime's pooling kernels size
	// it (poolOut), not as its convolutions do.
	pool bool
}

func readWindow(c *Context, kernel []int64) (window, error) {
	n := len(kernel)
	w := window{kernel: kernel, autoPad: c.Attrs().String("auto_pad", "NOTSET"), ceil: c.Attrs().Int("ceil_mode", 0) != 0}
	fill := func(name string, m int, def int64) ([]int64, error) {
		v, ok := c.Attrs().Ints(name)
		if !ok {
			v = make([]int64, m)
			for i := range v {
				v[i] = def
			}
		}
		if len(v) != m {
			return nil, c.Failf("%s has %d values, want %d", name, len(v), m)
		}
		return v, nil
	}
	var err error
	if w.strides, err = fill("strides", n, 1); err != nil {
		return w, err
	}
	if w.dilations, err = fill("dilations", n, 1); err != nil {
		return w, err
	}
	if w.pads, err = fill("pads", 2*n, 0); err != nil {
		return w, err
	}
	return w, nil
}

// out is the window's output size along axis i for an input of size in;
// unknown where that would be negative (the runtime refuses such an input).
func (w window) out(c *Context, i int, in sym.Dim) sym.Dim {
	o := w.size(c, i, in)
	if v, ok := o.Value(); ok && v < 0 {
		return sym.Unknown()
	}
	return o
}

// extent is the dilated kernel's length along axis i.
func (w window) extent(i int) int64 { return (w.kernel[i]-1)*w.dilations[i] + 1 }

// pad is the padding along axis i, both ends.
func (w window) pad(i int) int64 { return w.pads[i] + w.pads[i+len(w.kernel)] }

// span is how far the first window can move along axis i: in+pad-extent.
func (w window) span(i int, in sym.Dim) sym.Dim {
	return sym.Sub(sym.Add(in, sym.Int(w.pad(i))), sym.Int(w.extent(i)))
}

// size is out before its check.
func (w window) size(c *Context, i int, in sym.Dim) sym.Dim {
	s := w.strides[i]
	ek := w.extent(i)
	if w.pool {
		if o, done := w.poolOut(c, i, in); done {
			return o
		}
	}
	switch w.autoPad {
	case "SAME_UPPER", "SAME_LOWER":
		return sym.CeilDiv(in, sym.Int(s))
	case "VALID":
		if w.ceil {
			return sym.Add(sym.CeilDiv(sym.Sub(in, sym.Int(ek)), sym.Int(s)), sym.Int(1))
		}
		return sym.Add(sym.FloorDiv(sym.Sub(in, sym.Int(ek)), sym.Int(s)), sym.Int(1))
	}
	span := w.span(i, in)
	if !w.ceil {
		return sym.Add(sym.FloorDiv(span, sym.Int(s)), sym.Int(1))
	}
	o := sym.Add(sym.CeilDiv(span, sym.Int(s)), sym.Int(1))
	// The last window must start inside the input or its begin padding.
	if ov, ok := o.Value(); ok {
		if iv, ok := in.Value(); ok && (ov-1)*s >= iv+w.pads[i] {
			return sym.Int(ov - 1)
		}
		return o
	}
	// Without pads and with a window at least as long as the stride, the
	// last window starts inside the input: (o-1)*s <= in-ek+s-1 < in. A
	// shorter window (kernel 1, stride 2) may start past the end, and ORT
	// then drops it.
	if w.pad(i) == 0 && ek >= s {
		return o
	}
	return c.NewDim()
}

// poolOut sizes a pooling window where ONNX Runtime's pooling kernels differ
// from the convolution's arithmetic (measured over kernels 1-5, strides 1-3,
// dilations 1-2, pads 0-1 and inputs 1-12 against ORT 1.30), and reports
// whether it did:
//   - without ceil_mode, ORT divides by the stride rounding toward zero, not
//     down: an input one short of the kernel still gives one output (kernel
//     2, stride 2, input 1: 1, where floor gives 0). A symbolic size keeps
//     the floor where the span is known to be >= 0 (a pooled dim is at least
//     1: ORT refuses an empty one) or the stride is 1, takes Max(floor, 0)
//     where the span is known to be > -stride, and is left unknown
//     otherwise rather than wrong at small inputs;
//   - VALID is NOTSET with no pads (with ceil_mode, the last window must
//     start inside the input, as for NOTSET);
//   - SAME sizes ceil(in/stride) only with no dilation and a kernel longer
//     than the stride; ORT's sizes differ otherwise, and stay unknown.
func (w window) poolOut(c *Context, i int, in sym.Dim) (sym.Dim, bool) {
	s := w.strides[i]
	switch w.autoPad {
	case "SAME_UPPER", "SAME_LOWER":
		if w.dilations[i] == 1 && w.kernel[i] > s {
			return sym.CeilDiv(in, sym.Int(s)), true
		}
		return sym.Unknown(), true
	case "VALID":
		nw := w
		nw.autoPad = "NOTSET"
		nw.pads = make([]int64, len(w.pads))
		return nw.out(c, i, in), true
	}
	if w.ceil {
		return sym.Dim{}, false // as the convolution's, below
	}
	span := w.span(i, in)
	if v, ok := span.Value(); ok {
		if o := v/s + 1; o >= 0 { // Go's division rounds toward zero, as ORT's
			return sym.Int(o), true
		}
		return sym.Unknown(), true // ORT refuses the input
	}
	lb, ok := in.LowerBound()
	lb = max(lb, 1) + w.pad(i) - w.extent(i) // the span's
	switch {
	case s == 1 || (ok && lb >= 0):
		return sym.Add(sym.FloorDiv(span, sym.Int(s)), sym.Int(1)), true
	case ok && lb > -s:
		// A span in (-s, 0) rounds to 0 toward zero, where floor gives -1.
		return sym.Add(sym.Max(sym.FloorDiv(span, sym.Int(s)), sym.Int(0)), sym.Int(1)), true
	}
	return sym.Unknown(), true
}

func inferConv(ix, iw int, elem tensor.DType) func(*Context) error {
	return func(c *Context) error {
		e := elem
		switch elem {
		case 0:
			e = c.Elem(ix)
		case -1:
			e = c.Elem(7)
		}
		x, ok1 := c.Shape(ix)
		w, ok2 := c.Shape(iw)
		if !ok1 || len(x) < 3 {
			if ok2 {
				c.SetRank(0, e, len(w))
			} else {
				c.SetElem(0, e)
			}
			return nil
		}
		kernel, has := c.Attrs().Ints("kernel_shape")
		out := []sym.Dim{x[0], c.NewDim()}
		if ok2 {
			out[1] = w[0]
		}
		if !has {
			if !ok2 || len(w) != len(x) {
				c.SetRank(0, e, len(x))
				return nil
			}
			kernel = make([]int64, len(w)-2)
			for i, d := range w[2:] {
				v, ok := d.Value()
				if !ok {
					c.SetTensor(0, e, append(out, c.rankDims(len(x)-2)...))
					return nil
				}
				kernel[i] = v
			}
		}
		if len(kernel) != len(x)-2 {
			return c.Failf("kernel has %d axes for a rank-%d input", len(kernel), len(x))
		}
		win, err := readWindow(c, kernel)
		if err != nil {
			return err
		}
		for i := range kernel {
			out = append(out, c.orNew(win.out(c, i, x[2+i])))
		}
		c.SetTensor(0, e, out)
		return nil
	}
}

func (c *Context) rankDims(n int) []sym.Dim {
	out := make([]sym.Dim, n)
	for i := range out {
		out[i] = c.NewDim()
	}
	return out
}

func inferConvTranspose(c *Context) error {
	e := c.Elem(0)
	x, ok1 := c.Shape(0)
	w, ok2 := c.Shape(1)
	if !ok1 || !ok2 || len(x) < 3 || len(w) != len(x) {
		c.SetElem(0, e)
		return nil
	}
	n := len(x) - 2
	group := c.Attrs().Int("group", 1)
	out := []sym.Dim{x[0], sym.Mul(w[1], sym.Int(group))}
	if os, ok := c.Attrs().Ints("output_shape"); ok && len(os) == n {
		c.SetTensor(0, e, append(out, ints(os...)...))
		return nil
	}
	kernel, has := c.Attrs().Ints("kernel_shape")
	if !has {
		kernel = make([]int64, n)
		for i, d := range w[2:] {
			v, ok := d.Value()
			if !ok {
				c.SetTensor(0, e, append(out, c.rankDims(n)...))
				return nil
			}
			kernel[i] = v
		}
	}
	win, err := readWindow(c, kernel)
	if err != nil {
		return err
	}
	op, ok := c.Attrs().Ints("output_padding")
	if !ok {
		op = make([]int64, n)
	}
	for i := 0; i < n; i++ {
		s := win.strides[i]
		switch win.autoPad {
		case "SAME_UPPER", "SAME_LOWER":
			out = append(out, sym.Mul(x[2+i], sym.Int(s)))
		default:
			ek := (kernel[i]-1)*win.dilations[i] + 1
			pads := win.pads[i] + win.pads[i+n]
			if win.autoPad == "VALID" {
				pads = 0
			}
			d := sym.Add(sym.Mul(sym.Sub(x[2+i], sym.Int(1)), sym.Int(s)), sym.Int(op[i]+ek-pads))
			out = append(out, d)
		}
	}
	c.SetTensor(0, e, out)
	return nil
}

func inferPool(c *Context) error {
	e := c.Elem(0)
	x, ok := c.Shape(0)
	if !ok || len(x) < 3 {
		c.SetElem(0, e)
		if c.HasOutput(1) {
			c.SetElem(1, tensor.Int64)
		}
		return nil
	}
	kernel, has := c.Attrs().Ints("kernel_shape")
	if !has || len(kernel) != len(x)-2 {
		return c.Failf("kernel_shape has %d axes for a rank-%d input", len(kernel), len(x))
	}
	win, err := readWindow(c, kernel)
	if err != nil {
		return err
	}
	win.pool = true
	out := []sym.Dim{x[0], x[1]}
	for i := range kernel {
		out = append(out, c.orNew(win.out(c, i, x[2+i])))
	}
	c.SetTensor(0, e, out)
	if c.HasOutput(1) {
		c.SetTensor(1, tensor.Int64, out)
	}
	return nil
}

func inferGlobalPool(c *Context) error {
	x, ok := c.Shape(0)
	if !ok || len(x) < 2 {
		c.SetElem(0, c.Elem(0))
		return nil
	}
	for i := 2; i < len(x); i++ {
		x[i] = sym.Int(1)
	}
	c.SetTensor(0, c.Elem(0), x)
	return nil
}

// inferCausalConv: a depthwise causal convolution over [B, C, L] with weight
// [C, 1, k]: output has the input's shape, present_state is [B, C, k-1].
func inferCausalConv(c *Context) error {
	e := c.Elem(0)
	c.SetType(0, c.Type(0))
	x, ok1 := c.Shape(0)
	w, ok2 := c.Shape(1)
	if !ok1 || !ok2 || len(x) != 3 || len(w) != 3 {
		c.SetRank(1, e, 3)
		return nil
	}
	c.SetTensor(1, e, []sym.Dim{x[0], x[1], c.orNew(sym.Sub(w[2], sym.Int(1)))})
	return nil
}
