package model

import (
	"fmt"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// Densify replaces every sparse initializer (of the main graph and of every
// subgraph) by the equivalent dense initializer, so that every step sees an
// ordinary constant: ONNX Runtime does the same when it loads the model. A
// dense value over maxBytes is refused with an error wrapping ErrOverBudget,
// one of an element type quantprep cannot decode with one wrapping
// ErrUnsupported; bad indices wrap ErrInvalid. All name the tensor.
func (m *Model) Densify(maxBytes int64) error {
	var err error
	WalkGraphs(m.Graph(), func(g *onnxpb.GraphProto, _ bool) {
		if err != nil {
			return
		}
		for _, sp := range g.GetSparseInitializer() {
			var tp *onnxpb.TensorProto
			if tp, err = m.densify(sp, maxBytes); err != nil {
				return
			}
			g.Initializer = append(g.Initializer, tp)
		}
		g.SparseInitializer = nil
	})
	return err
}

func (m *Model) densify(sp *onnxpb.SparseTensorProto, maxBytes int64) (*onnxpb.TensorProto, error) {
	vp, ip := sp.GetValues(), sp.GetIndices()
	name := vp.GetName()
	bad := func(kind error, format string, a ...any) error {
		return fmt.Errorf("%w: sparse initializer %q: %s", kind, name, fmt.Sprintf(format, a...))
	}
	if vp == nil || ip == nil {
		return nil, bad(ErrInvalid, "values or indices missing")
	}
	dims := sp.GetDims()
	d := tensor.DType(vp.GetDataType())
	for _, x := range dims {
		if x < 0 {
			return nil, bad(ErrInvalid, "negative dim in %v", dims)
		}
	}
	n := tensor.NumElements(dims)
	size := d.RawSize(n)
	if d == tensor.String {
		size = 24 * n
	}
	if n < 0 || size < 0 || size > maxBytes {
		return nil, bad(ErrOverBudget, "its dense value of %s%v is over the budget of %d bytes", d, dims, maxBytes)
	}
	if !d.Decodable() {
		return nil, bad(ErrUnsupported, "element type %s cannot be made dense", d)
	}
	vals, err := m.Tensor(vp)
	if err != nil {
		return nil, bad(ErrInvalid, "values: %v", err)
	}
	idx, err := m.Tensor(ip)
	if err != nil || !idx.DType.IsInt() {
		return nil, bad(ErrInvalid, "indices must be an int64 tensor")
	}
	nnz := vals.Len()
	if len(vals.Dims) != 1 {
		return nil, bad(ErrInvalid, "values must have rank 1, got %v", vals.Dims)
	}
	var flat []int64
	switch {
	case len(idx.Dims) == 1 && idx.Dims[0] == nnz:
		flat = idx.I64
	case len(idx.Dims) == 2 && idx.Dims[0] == nnz && idx.Dims[1] == int64(len(dims)):
		flat = make([]int64, nnz)
		for k := range flat {
			off := int64(0)
			for a, x := range dims {
				c := idx.I64[int64(k)*int64(len(dims))+int64(a)]
				if c < 0 || c >= x {
					return nil, bad(ErrInvalid, "index %d of value %d is out of range for dim %d", c, k, x)
				}
				off = off*x + c
			}
			flat[k] = off
		}
	default:
		return nil, bad(ErrInvalid, "indices of shape %v do not match %d values of rank %d", idx.Dims, nnz, len(dims))
	}
	t := tensor.New(d, dims)
	for k, i := range flat {
		if i < 0 || i >= n {
			return nil, bad(ErrInvalid, "index %d is out of range for %d elements", i, n)
		}
		switch {
		case t.F32 != nil:
			t.F32[i] = vals.F32[k]
		case t.F64 != nil:
			t.F64[i] = vals.F64[k]
		case t.I64 != nil:
			t.I64[i] = vals.I64[k]
		case t.Str != nil:
			t.Str[i] = vals.Str[k]
		}
	}
	return t.Proto(name), nil
}
