package tensor

import (
	"encoding/binary"
	"fmt"
	"math"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
)

// RawData returns tp's values in raw_data encoding without decoding them: its
// raw_data as is, or its typed fields (float_data, int32_data, ...) converted.
// It works for every numeric type, including the ones Decode does not handle
// (complex, float8, 4-bit), because it only moves bits. Strings, which have no
// raw encoding, and external tensors, whose bytes are elsewhere, are errors.
func RawData(tp *onnxpb.TensorProto) ([]byte, error) {
	d := DType(tp.GetDataType())
	switch {
	case !d.Known():
		return nil, fmt.Errorf("tensor %q: unknown data type %d", tp.GetName(), tp.GetDataType())
	case d == String:
		return nil, fmt.Errorf("tensor %q: string tensors have no raw encoding", tp.GetName())
	case tp.GetDataLocation() == onnxpb.TensorProto_EXTERNAL:
		return nil, fmt.Errorf("tensor %q: data is external", tp.GetName())
	}
	if tp.RawData != nil {
		return tp.RawData, nil
	}
	n := NumElements(tp.GetDims())
	if n < 0 {
		return nil, fmt.Errorf("tensor %q: invalid dims %v", tp.GetName(), tp.GetDims())
	}
	le := binary.LittleEndian
	want := n
	var got int
	var raw []byte
	switch d {
	case Float, Complex64:
		if d == Complex64 {
			want = 2 * n
		}
		v := tp.GetFloatData()
		got, raw = len(v), make([]byte, 4*len(v))
		for i, x := range v {
			le.PutUint32(raw[4*i:], math.Float32bits(x))
		}
	case Double, Complex128:
		if d == Complex128 {
			want = 2 * n
		}
		v := tp.GetDoubleData()
		got, raw = len(v), make([]byte, 8*len(v))
		for i, x := range v {
			le.PutUint64(raw[8*i:], math.Float64bits(x))
		}
	case Int64:
		v := tp.GetInt64Data()
		got, raw = len(v), make([]byte, 8*len(v))
		for i, x := range v {
			le.PutUint64(raw[8*i:], uint64(x))
		}
	case Uint32, Uint64:
		v := tp.GetUint64Data()
		size := d.Bits() / 8
		got, raw = len(v), make([]byte, size*len(v))
		for i, x := range v {
			if size == 4 {
				le.PutUint32(raw[4*i:], uint32(x))
			} else {
				le.PutUint64(raw[8*i:], x)
			}
		}
	default:
		// int32_data holds every other type: one element per value, or, for
		// the 4-bit types, one byte of two packed elements per value.
		v := tp.GetInt32Data()
		size := d.Bits() / 8
		if d.Bits() == 4 {
			size, want = 1, (n+1)/2
		}
		got, raw = len(v), make([]byte, size*len(v))
		for i, x := range v {
			switch size {
			case 1:
				raw[i] = byte(x)
			case 2:
				le.PutUint16(raw[2*i:], uint16(x))
			case 4:
				le.PutUint32(raw[4*i:], uint32(x))
			}
		}
	}
	if int64(got) != want {
		return nil, fmt.Errorf("tensor %q: %d values for %d elements of %s", tp.GetName(), got, n, d)
	}
	return raw, nil
}
