// values.go: the elements of small integer tensors of any rank, so that
// shape arithmetic that exporters write with 2-D tensors (torch's F.pad: the
// pads reshaped to [-1, 2], flipped with a Slice of step -1, transposed and
// flattened) keeps its values. Elements are row-major; a tensor's values are
// usable with its shape when every dim of the shape is a known value.
//
// Small float32 and float64 tensors have values too: shape arithmetic in
// floating point (a resize scale, ceil(h/32)*32) is carried out with the
// runtime's rounding by sym's float values (sym/float.go), so that the sizes
// it gives are exact expressions rather than fresh symbols.

package infer

import (
	"github.com/quantprep/quantprep/pipeline/sym"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// maxFloatValues bounds the float tensors whose elements are tracked: shape
// arithmetic uses a few scalars, and weights must not be decoded into values.
const maxFloatValues = 16

// floatPrec is sym's precision for a float element type, 0 for others
// (float16 and bfloat16 arithmetic is not modeled).
func floatPrec(d tensor.DType) int {
	switch d {
	case tensor.Float:
		return sym.F32
	case tensor.Double:
		return sym.F64
	}
	return 0
}

// floatConstValues returns the elements of a small float32 or float64
// constant as float values, nil for any other tensor.
func floatConstValues(e *engine, v *value) []sym.Dim {
	prec := floatPrec(tensor.DType(v.tp.GetDataType()))
	if prec == 0 || tensor.NumElements(v.tp.GetDims()) > maxFloatValues {
		return nil
	}
	t, ok := e.decode(v)
	if !ok || t.Len() > maxFloatValues {
		return nil
	}
	out := make([]sym.Dim, t.Len())
	for j := range out {
		out[j] = sym.FloatConst(t.Float64At(j), prec)
	}
	return out
}

// floatValuesOut reports whether output values of element type elem and
// static shape out are float values worth computing.
func floatValuesOut(elem tensor.DType, out []sym.Dim) bool {
	if floatPrec(elem) == 0 {
		return false
	}
	st, ok := staticShape(out)
	if !ok {
		return false
	}
	n := numel(st)
	return n >= 0 && n <= maxFloatValues
}

// mapFloatValues sets output 0 (of element type elem, the shape of input 0)
// to f of input 0's values.
func mapFloatValues(c *Context, elem tensor.DType, f func(sym.Dim) sym.Dim) {
	sh, ok := c.Shape(0)
	if !ok || !floatValuesOut(elem, sh) {
		return
	}
	v, ok := c.Values(0)
	if !ok {
		return
	}
	out := make([]sym.Dim, len(v))
	for i, d := range v {
		out[i] = f(d)
	}
	c.SetValues(0, out)
}

// staticShape returns sh as integers when every dim is a known value.
func staticShape(sh []sym.Dim) ([]int64, bool) {
	out := make([]int64, len(sh))
	for i, d := range sh {
		v, ok := d.Value()
		if !ok || v < 0 {
			return nil, false
		}
		out[i] = v
	}
	return out, true
}

// numel is the number of elements of a static shape, or -1 above maxValues.
func numel(sh []int64) int {
	n := int64(1)
	for _, d := range sh {
		n *= d
		if n > maxValues {
			return -1
		}
	}
	return int(n)
}

// valuesND returns input i's elements with its static shape.
func (c *Context) valuesND(i int) ([]sym.Dim, []int64, bool) {
	v, ok := c.Values(i)
	if !ok {
		return nil, nil, false
	}
	sh, ok := c.Shape(i)
	if !ok {
		return nil, nil, false
	}
	st, ok := staticShape(sh)
	if !ok || numel(st) != len(v) {
		return nil, nil, false
	}
	return v, st, true
}

// strides returns the row-major strides of a static shape.
func strides(sh []int64) []int {
	st := make([]int, len(sh))
	k := 1
	for i := len(sh) - 1; i >= 0; i-- {
		st[i] = k
		k *= int(sh[i])
	}
	return st
}

// forEachIndex calls f with every multi-index of a static shape, in
// row-major order.
func forEachIndex(sh []int64, f func(idx []int64)) {
	n := numel(sh)
	if n <= 0 {
		return
	}
	idx := make([]int64, len(sh))
	for k := 0; k < n; k++ {
		f(idx)
		for a := len(sh) - 1; a >= 0; a-- {
			idx[a]++
			if idx[a] < sh[a] {
				break
			}
			idx[a] = 0
		}
	}
}

// broadcastValues maps the elements of a tensor of shape in to the broadcast
// shape out (numpy rules); ok is false when in does not broadcast to out.
func broadcastValues(v []sym.Dim, in, out []int64) ([]sym.Dim, bool) {
	if len(in) > len(out) || numel(out) < 0 {
		return nil, false
	}
	off := len(out) - len(in)
	for i, d := range in {
		if d != 1 && d != out[off+i] {
			return nil, false
		}
	}
	st := strides(in)
	res := make([]sym.Dim, 0, numel(out))
	forEachIndex(out, func(idx []int64) {
		k := 0
		for i, d := range in {
			if d != 1 {
				k += int(idx[off+i]) * st[i]
			}
		}
		res = append(res, v[k])
	})
	return res, true
}

// propagateN computes the elements of an elementwise operator's output of
// static shape out from its inputs' elements, with broadcasting.
func propagateN(c *Context, out []sym.Dim, idx []int, f func(args []sym.Dim) sym.Dim) {
	ost, ok := staticShape(out)
	if !ok || numel(ost) < 0 {
		return
	}
	ins := make([][]sym.Dim, len(idx))
	for j, i := range idx {
		v, st, ok := c.valuesND(i)
		if !ok {
			return
		}
		if ins[j], ok = broadcastValues(v, st, ost); !ok {
			return
		}
	}
	n := numel(ost)
	vals := make([]sym.Dim, n)
	args := make([]sym.Dim, len(idx))
	for k := range vals {
		for j := range ins {
			args[j] = ins[j][k]
		}
		vals[k] = f(args)
	}
	c.SetValues(0, vals)
}
