package eval

import (
	"errors"
	"fmt"

	"github.com/quantprep/quantprep/pipeline/tensor"
)

// ErrNoKernel is returned by Run for an operator that has no kernel.
var ErrNoKernel = errors.New("no constant-folding kernel")

// ErrUnsupportedInput marks inputs a kernel does not handle (an element type,
// a mode); folding such a node is skipped like a missing kernel.
var ErrUnsupportedInput = errors.New("unsupported input")

func unsupported(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnsupportedInput, fmt.Sprintf(format, args...))
}

// need checks that inputs 0..n-1 are present.
func need(c *Ctx, n int) error {
	for i := 0; i < n; i++ {
		if c.Input(i) == nil {
			return fmt.Errorf("input %d is missing", i)
		}
	}
	return nil
}

// needSameType is need for operators whose inputs 0..n-1 must share one
// element type (arithmetic, comparison).
func needSameType(c *Ctx, n int) error {
	if err := need(c, n); err != nil {
		return err
	}
	for _, t := range c.In[1:n] {
		if t.DType != c.In[0].DType {
			return fmt.Errorf("input types differ: %s and %s", c.In[0].DType, t.DType)
		}
	}
	return nil
}

// ints reads an integer tensor's values.
func ints(t *tensor.Tensor) ([]int64, error) {
	if t.I64 == nil && t.Len() != 0 || !t.DType.IsInt() {
		return nil, fmt.Errorf("want an integer tensor, got %s", t.DType)
	}
	return t.I64, nil
}

// strides returns row-major strides of dims.
func strides(dims []int64) []int64 {
	s := make([]int64, len(dims))
	acc := int64(1)
	for i := len(dims) - 1; i >= 0; i-- {
		s[i] = acc
		acc *= dims[i]
	}
	return s
}

// pick builds a tensor of src's type with the given dims whose element i is
// src's element idx[i]. Every data-movement kernel reduces to it, so they all
// handle every element type alike.
func pick(src *tensor.Tensor, dims []int64, idx []int64) *tensor.Tensor {
	out := &tensor.Tensor{DType: src.DType, Dims: append([]int64{}, dims...)}
	n := len(idx)
	switch {
	case src.F32 != nil || src.DType.IsFloat() && src.DType != tensor.Double:
		out.F32 = make([]float32, n)
		for i, j := range idx {
			out.F32[i] = src.F32[j]
		}
	case src.F64 != nil || src.DType == tensor.Double:
		out.F64 = make([]float64, n)
		for i, j := range idx {
			out.F64[i] = src.F64[j]
		}
	case src.Str != nil || src.DType == tensor.String:
		out.Str = make([][]byte, n)
		for i, j := range idx {
			out.Str[i] = src.Str[j]
		}
	default:
		out.I64 = make([]int64, n)
		for i, j := range idx {
			out.I64[i] = src.I64[j]
		}
	}
	return out
}

// broadcastDims is the numpy-style broadcast of several shapes.
func broadcastDims(shapes ...[]int64) ([]int64, error) {
	rank := 0
	for _, s := range shapes {
		rank = max(rank, len(s))
	}
	out := make([]int64, rank)
	for i := range out {
		out[i] = 1
	}
	for _, s := range shapes {
		off := rank - len(s)
		for i, d := range s {
			switch {
			case out[off+i] == d || d == 1:
			case out[off+i] == 1:
				out[off+i] = d
			default:
				return nil, fmt.Errorf("shapes %v are not broadcastable", shapes)
			}
		}
	}
	return out, nil
}

// broadcast2 returns the broadcast of a's and b's dims and, for each element
// of it, the index of the element of a and of b it reads, after charging the
// budget for the two index tables and a result of 8 bytes an element.
func broadcast2(c *Ctx, a, b *tensor.Tensor) (dims, ia, ib []int64, err error) {
	if dims, err = broadcastDims(a.Dims, b.Dims); err != nil {
		return nil, nil, nil, err
	}
	if err = c.roomDims("broadcast result", dims, 24); err != nil {
		return nil, nil, nil, err
	}
	return dims, broadcastIndex(a.Dims, dims), broadcastIndex(b.Dims, dims), nil
}

// broadcastIndex returns, for every element of out (row-major), the flat index
// of the element of a tensor with dims in that broadcasts to it.
func broadcastIndex(in, out []int64) []int64 {
	n := tensor.NumElements(out)
	idx := make([]int64, n)
	rank := len(out)
	off := rank - len(in)
	st := strides(in)
	bst := make([]int64, rank) // stride in `in` per output axis; 0 where broadcast
	for i := range in {
		if in[i] != 1 {
			bst[off+i] = st[i]
		}
	}
	ctr := make([]int64, rank)
	cur := int64(0)
	for i := int64(0); i < n; i++ {
		idx[i] = cur
		for a := rank - 1; a >= 0; a-- {
			ctr[a]++
			cur += bst[a]
			if ctr[a] < out[a] {
				break
			}
			cur -= bst[a] * ctr[a]
			ctr[a] = 0
		}
	}
	return idx
}

// wrapInt narrows v to the range of an integer type, as a store into that
// type would; bool becomes 0 or 1.
func wrapInt(d tensor.DType, v int64) int64 {
	switch d {
	case tensor.Bool:
		if v != 0 {
			return 1
		}
		return 0
	case tensor.Int8:
		return int64(int8(v))
	case tensor.Uint8:
		return int64(uint8(v))
	case tensor.Int16:
		return int64(int16(v))
	case tensor.Uint16:
		return int64(uint16(v))
	case tensor.Int32:
		return int64(int32(v))
	case tensor.Uint32:
		return int64(uint32(v))
	}
	return v
}

// scalar returns element 0 of a numeric tensor as float64.
func scalar(t *tensor.Tensor) (float64, error) {
	if t.Len() < 1 {
		return 0, fmt.Errorf("empty tensor where a scalar is expected")
	}
	return t.Float64At(0), nil
}
