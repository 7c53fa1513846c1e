package tensor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/internal/float16"
)

// Tensor is a decoded dense tensor. Its values sit in the one slice that its
// DType's family uses: F32 for float, float16 and bfloat16 (widened); F64 for
// double; I64 for every integer type and bool (widened; uint64 bit-cast); Str
// for string. Kernels thus handle three numeric cases, and Proto narrows back.
type Tensor struct {
	DType DType
	Dims  []int64
	F32   []float32
	F64   []float64
	I64   []int64
	Str   [][]byte
}

// ErrUndecodable is returned for element types whose values this package does not
// decode (complex, float8, 4-bit).
var ErrUndecodable = errors.New("element type not decodable")

// NumElements is the product of dims (1 for a scalar), or -1 if a dim is
// negative or the product overflows int64 (hostile dims must not wrap around to
// a small count that then matches a short data field).
func NumElements(dims []int64) int64 {
	n := int64(1)
	for _, d := range dims {
		if d < 0 {
			return -1
		}
		if d != 0 && n > math.MaxInt64/d {
			// A later zero dim still makes the tensor empty.
			for _, z := range dims {
				if z == 0 {
					return 0
				}
			}
			return -1
		}
		n *= d
	}
	return n
}

// Len is the number of elements of t.
func (t *Tensor) Len() int64 { return NumElements(t.Dims) }

// New returns a zero tensor of the given type and dims.
func New(d DType, dims []int64) *Tensor {
	n := NumElements(dims)
	t := &Tensor{DType: d, Dims: append([]int64{}, dims...)}
	switch dtypes[d].kind {
	case kindFloat:
		t.F32 = make([]float32, n)
	case kindDouble:
		t.F64 = make([]float64, n)
	case kindInt:
		t.I64 = make([]int64, n)
	case kindString:
		t.Str = make([][]byte, n)
	}
	return t
}

// FromInt64s returns an int64 tensor with the given values and dims.
func FromInt64s(dims []int64, v []int64) *Tensor {
	return &Tensor{DType: Int64, Dims: append([]int64{}, dims...), I64: v}
}

// FromFloat32s returns a float tensor with the given values and dims.
func FromFloat32s(dims []int64, v []float32) *Tensor {
	return &Tensor{DType: Float, Dims: append([]int64{}, dims...), F32: v}
}

// FromFloat64s returns a tensor of float type d (float, float16, bfloat16 or
// double) holding v, rounded to d's precision where it is narrower.
func FromFloat64s(d DType, dims []int64, v []float64) *Tensor {
	t := New(d, dims)
	for i, x := range v {
		if t.F32 != nil {
			t.F32[i] = float32(x)
		} else {
			t.F64[i] = x
		}
	}
	return t
}

// Float64At returns element i of a numeric tensor as float64.
func (t *Tensor) Float64At(i int) float64 {
	switch {
	case t.F32 != nil:
		return float64(t.F32[i])
	case t.F64 != nil:
		return t.F64[i]
	case t.I64 != nil:
		if t.DType == Uint64 {
			return float64(uint64(t.I64[i]))
		}
		return float64(t.I64[i])
	}
	return 0
}

// Decode decodes tp. For a tensor whose data is external, external holds the bytes
// that its external_data entries point to; otherwise external must be nil.
func Decode(tp *onnxpb.TensorProto, external []byte) (*Tensor, error) {
	d := DType(tp.GetDataType())
	if !d.Known() {
		return nil, fmt.Errorf("tensor %q: unknown data type %d", tp.GetName(), tp.GetDataType())
	}
	if !d.Decodable() {
		return nil, fmt.Errorf("tensor %q: %s: %w", tp.GetName(), d, ErrUndecodable)
	}
	if tp.GetSegment() != nil {
		return nil, fmt.Errorf("tensor %q: segmented tensors are not supported", tp.GetName())
	}
	for _, dim := range tp.GetDims() {
		if dim < 0 {
			return nil, fmt.Errorf("tensor %q: negative dim %d", tp.GetName(), dim)
		}
	}
	n := NumElements(tp.GetDims())
	t := &Tensor{DType: d, Dims: append([]int64{}, tp.GetDims()...)}
	raw := tp.GetRawData()
	hasRaw := tp.RawData != nil
	if tp.GetDataLocation() == onnxpb.TensorProto_EXTERNAL {
		raw, hasRaw = external, true
	}
	if d == String {
		if int64(len(tp.GetStringData())) != n {
			return nil, fmt.Errorf("tensor %q: %d strings for %d elements", tp.GetName(), len(tp.GetStringData()), n)
		}
		t.Str = tp.GetStringData()
		return t, nil
	}
	if hasRaw {
		if want := d.RawSize(n); int64(len(raw)) != want {
			return nil, fmt.Errorf("tensor %q: %d bytes of data, want %d for %s%v", tp.GetName(), len(raw), want, d, tp.GetDims())
		}
		decodeRaw(t, raw, n)
		return t, nil
	}
	if err := decodeTyped(t, tp, n); err != nil {
		return nil, fmt.Errorf("tensor %q: %w", tp.GetName(), err)
	}
	return t, nil
}

func decodeRaw(t *Tensor, raw []byte, n int64) {
	le := binary.LittleEndian
	switch t.DType {
	case Float:
		t.F32 = make([]float32, n)
		for i := range t.F32 {
			t.F32[i] = math.Float32frombits(le.Uint32(raw[4*i:]))
		}
	case Float16:
		t.F32 = make([]float32, n)
		for i := range t.F32 {
			t.F32[i] = HalfToFloat(le.Uint16(raw[2*i:]))
		}
	case BFloat16:
		t.F32 = make([]float32, n)
		for i := range t.F32 {
			t.F32[i] = math.Float32frombits(uint32(le.Uint16(raw[2*i:])) << 16)
		}
	case Double:
		t.F64 = make([]float64, n)
		for i := range t.F64 {
			t.F64[i] = math.Float64frombits(le.Uint64(raw[8*i:]))
		}
	default:
		t.I64 = make([]int64, n)
		for i := range t.I64 {
			switch t.DType {
			case Uint8, Bool:
				t.I64[i] = int64(raw[i])
			case Int8:
				t.I64[i] = int64(int8(raw[i]))
			case Uint16:
				t.I64[i] = int64(le.Uint16(raw[2*i:]))
			case Int16:
				t.I64[i] = int64(int16(le.Uint16(raw[2*i:])))
			case Int32:
				t.I64[i] = int64(int32(le.Uint32(raw[4*i:])))
			case Uint32:
				t.I64[i] = int64(le.Uint32(raw[4*i:]))
			case Int64, Uint64:
				t.I64[i] = int64(le.Uint64(raw[8*i:]))
			}
		}
	}
}

// decodeTyped reads the typed repeated fields, following ONNX's rules on which
// field holds which type.
func decodeTyped(t *Tensor, tp *onnxpb.TensorProto, n int64) error {
	count := func(got int) error {
		if int64(got) != n {
			return fmt.Errorf("%d values for %d elements of %s", got, n, t.DType)
		}
		return nil
	}
	switch t.DType {
	case Float:
		if err := count(len(tp.GetFloatData())); err != nil {
			return err
		}
		t.F32 = append([]float32{}, tp.GetFloatData()...)
	case Double:
		if err := count(len(tp.GetDoubleData())); err != nil {
			return err
		}
		t.F64 = append([]float64{}, tp.GetDoubleData()...)
	case Int64:
		if err := count(len(tp.GetInt64Data())); err != nil {
			return err
		}
		t.I64 = append([]int64{}, tp.GetInt64Data()...)
	case Uint32, Uint64:
		if err := count(len(tp.GetUint64Data())); err != nil {
			return err
		}
		t.I64 = make([]int64, n)
		for i, v := range tp.GetUint64Data() {
			t.I64[i] = int64(v)
		}
	case Float16, BFloat16:
		if err := count(len(tp.GetInt32Data())); err != nil {
			return err
		}
		t.F32 = make([]float32, n)
		for i, v := range tp.GetInt32Data() {
			if t.DType == Float16 {
				t.F32[i] = HalfToFloat(uint16(v))
			} else {
				t.F32[i] = math.Float32frombits(uint32(uint16(v)) << 16)
			}
		}
	default: // int8, uint8, int16, uint16, int32, bool: int32_data
		if err := count(len(tp.GetInt32Data())); err != nil {
			return err
		}
		t.I64 = make([]int64, n)
		for i, v := range tp.GetInt32Data() {
			t.I64[i] = int64(v)
		}
	}
	return nil
}

// Raw returns t's values in raw_data encoding (little-endian); nil for strings.
func (t *Tensor) Raw() []byte {
	n := t.Len()
	size := t.DType.RawSize(n)
	if size < 0 {
		return nil
	}
	raw := make([]byte, size)
	le := binary.LittleEndian
	for i := int64(0); i < n; i++ {
		switch t.DType {
		case Float:
			le.PutUint32(raw[4*i:], math.Float32bits(t.F32[i]))
		case Float16:
			le.PutUint16(raw[2*i:], FloatToHalf(t.F32[i]))
		case BFloat16:
			le.PutUint16(raw[2*i:], FloatToBFloat16(t.F32[i]))
		case Double:
			le.PutUint64(raw[8*i:], math.Float64bits(t.F64[i]))
		case Uint8, Int8, Bool:
			raw[i] = byte(t.I64[i])
		case Uint16, Int16:
			le.PutUint16(raw[2*i:], uint16(t.I64[i]))
		case Int32, Uint32:
			le.PutUint32(raw[4*i:], uint32(t.I64[i]))
		case Int64, Uint64:
			le.PutUint64(raw[8*i:], uint64(t.I64[i]))
		}
	}
	return raw
}

// Proto encodes t as a TensorProto named name, with raw_data (string_data for strings).
func (t *Tensor) Proto(name string) *onnxpb.TensorProto {
	tp := &onnxpb.TensorProto{
		Name:     &name,
		DataType: int32Ptr(int32(t.DType)),
		Dims:     append([]int64{}, t.Dims...),
	}
	if t.DType == String {
		tp.StringData = t.Str
		return tp
	}
	tp.RawData = t.Raw()
	return tp
}

func int32Ptr(v int32) *int32 { return &v }

// HalfToFloat converts IEEE 754 half-precision bits to float32.
func HalfToFloat(h uint16) float32 { return float16.ToFloat32(h) }

// FloatToHalf converts float32 to IEEE 754 half-precision bits, rounding to nearest even.
func FloatToHalf(f float32) uint16 { return float16.FromFloat32(f) }

// FloatToBFloat16 converts float32 to bfloat16 bits, rounding to nearest even.
func FloatToBFloat16(f float32) uint16 { return float16.BFloat16FromFloat32(f) }

// NormAxis maps an axis of a tensor of rank rank, which counts from the end
// when negative, into [0, rank).
func NormAxis(axis int64, rank int) (int, error) {
	if axis < -int64(rank) || axis >= int64(rank) {
		return 0, fmt.Errorf("axis %d out of range for rank %d", axis, rank)
	}
	if axis < 0 {
		axis += int64(rank)
	}
	return int(axis), nil
}
