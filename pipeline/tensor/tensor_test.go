package tensor

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
)

// le is v in little-endian bytes, as raw_data holds it (float32 as its IEEE
// bits); the named instances keep the cases short.
func le[T uint16 | uint32 | uint64 | float32](v ...T) []byte {
	b, err := binary.Append(nil, binary.LittleEndian, v)
	if err != nil {
		panic(err) // fixed-size types: cannot fail
	}
	return b
}

var (
	le16    = le[uint16]
	le32    = le[uint32]
	le64    = le[uint64]
	f32bits = le[float32]
)

func ptr[T any](v T) *T { return &v }

// proto3 is a TensorProto of type d with dims [3] named "t".
func proto3(d DType) *onnxpb.TensorProto {
	return &onnxpb.TensorProto{Name: ptr("t"), DataType: ptr(int32(d)), Dims: []int64{3}}
}

// codecCases has, for every decodable type, three values in raw encoding, the
// same values in the typed field ONNX assigns to the type, and the decoded
// Tensor. The values probe the edges: sign extension, the largest unsigned
// values, exactly representable halves.
var codecCases = []struct {
	d     DType
	raw   []byte
	typed func(*onnxpb.TensorProto)
	want  Tensor
}{
	{Float, f32bits(1.5, -2, 3.25),
		func(tp *onnxpb.TensorProto) { tp.FloatData = []float32{1.5, -2, 3.25} },
		Tensor{F32: []float32{1.5, -2, 3.25}}},
	{Double, le64(math.Float64bits(1.5), math.Float64bits(-1e300), 0),
		func(tp *onnxpb.TensorProto) { tp.DoubleData = []float64{1.5, -1e300, 0} },
		Tensor{F64: []float64{1.5, -1e300, 0}}},
	{Float16, le16(0x3c00, 0xc000, 0x7bff),
		func(tp *onnxpb.TensorProto) { tp.Int32Data = []int32{0x3c00, 0xc000, 0x7bff} },
		Tensor{F32: []float32{1, -2, 65504}}},
	{BFloat16, le16(0x3f80, 0xc000, 0x3f00),
		func(tp *onnxpb.TensorProto) { tp.Int32Data = []int32{0x3f80, 0xc000, 0x3f00} },
		Tensor{F32: []float32{1, -2, 0.5}}},
	{Uint8, []byte{0, 255, 7},
		func(tp *onnxpb.TensorProto) { tp.Int32Data = []int32{0, 255, 7} },
		Tensor{I64: []int64{0, 255, 7}}},
	{Int8, []byte{0x80, 0x7f, 0xff},
		func(tp *onnxpb.TensorProto) { tp.Int32Data = []int32{-128, 127, -1} },
		Tensor{I64: []int64{-128, 127, -1}}},
	{Bool, []byte{1, 0, 1},
		func(tp *onnxpb.TensorProto) { tp.Int32Data = []int32{1, 0, 1} },
		Tensor{I64: []int64{1, 0, 1}}},
	{Uint16, le16(0, 65535, 258),
		func(tp *onnxpb.TensorProto) { tp.Int32Data = []int32{0, 65535, 258} },
		Tensor{I64: []int64{0, 65535, 258}}},
	{Int16, le16(0x8000, 0x7fff, 0xfffe),
		func(tp *onnxpb.TensorProto) { tp.Int32Data = []int32{-32768, 32767, -2} },
		Tensor{I64: []int64{-32768, 32767, -2}}},
	{Int32, le32(0x80000000, 0x7fffffff, 0xfffffffd),
		func(tp *onnxpb.TensorProto) { tp.Int32Data = []int32{math.MinInt32, math.MaxInt32, -3} },
		Tensor{I64: []int64{math.MinInt32, math.MaxInt32, -3}}},
	{Uint32, le32(0, math.MaxUint32, 9),
		func(tp *onnxpb.TensorProto) { tp.Uint64Data = []uint64{0, math.MaxUint32, 9} },
		Tensor{I64: []int64{0, math.MaxUint32, 9}}},
	{Int64, le64(1<<63, 1<<63-1, 5),
		func(tp *onnxpb.TensorProto) { tp.Int64Data = []int64{math.MinInt64, math.MaxInt64, 5} },
		Tensor{I64: []int64{math.MinInt64, math.MaxInt64, 5}}},
	{Uint64, le64(0, math.MaxUint64, 1<<63),
		func(tp *onnxpb.TensorProto) { tp.Uint64Data = []uint64{0, math.MaxUint64, 1 << 63} },
		Tensor{I64: []int64{0, -1, math.MinInt64}}}, // bit-cast
	{String, nil,
		func(tp *onnxpb.TensorProto) { tp.StringData = [][]byte{[]byte("a"), {}, []byte("xyz")} },
		Tensor{Str: [][]byte{[]byte("a"), {}, []byte("xyz")}}},
}

func TestCodec(t *testing.T) {
	covered := map[DType]bool{}
	for _, tc := range codecCases {
		covered[tc.d] = true
		t.Run(tc.d.String(), func(t *testing.T) {
			want := tc.want
			want.DType, want.Dims = tc.d, []int64{3}
			check := func(form string, tp *onnxpb.TensorProto, ext []byte) {
				t.Helper()
				got, err := Decode(tp, ext)
				if err != nil {
					t.Fatalf("%s: %v", form, err)
				}
				if !reflect.DeepEqual(*got, want) {
					t.Errorf("%s: decoded %+v, want %+v", form, *got, want)
				}
			}
			typed := proto3(tc.d)
			tc.typed(typed)
			check("typed", typed, nil)
			if tc.raw != nil {
				raw := proto3(tc.d)
				raw.RawData = tc.raw
				check("raw", raw, nil)
				ext := proto3(tc.d)
				ext.DataLocation = onnxpb.TensorProto_EXTERNAL.Enum()
				check("external", ext, tc.raw)
				if got := want.Raw(); !bytes.Equal(got, tc.raw) {
					t.Errorf("Raw = %x, want %x", got, tc.raw)
				}
				if got, err := RawData(typed); err != nil || !bytes.Equal(got, tc.raw) {
					t.Errorf("RawData(typed) = %x, %v, want %x", got, err, tc.raw)
				}
			}
			p := want.Proto("out")
			if p.GetName() != "out" || p.GetDataType() != int32(tc.d) || !reflect.DeepEqual(p.GetDims(), []int64{3}) {
				t.Errorf("Proto header = %v", p)
			}
			if tc.raw != nil && (!bytes.Equal(p.GetRawData(), tc.raw) || p.StringData != nil) {
				t.Errorf("Proto raw_data = %x, want %x", p.GetRawData(), tc.raw)
			}
			if tc.d == String && (p.RawData != nil || len(p.StringData) != 3) {
				t.Errorf("Proto of strings = %v", p)
			}
			check("Proto", p, nil)
		})
	}
	for d := range dtypes {
		if d.Decodable() && !covered[d] {
			t.Errorf("no codec case for %s", d)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name    string
		tp      *onnxpb.TensorProto
		ext     []byte
		wantErr string
		is      error
	}{
		{"raw too short", &onnxpb.TensorProto{DataType: ptr(int32(Float)), Dims: []int64{3}, RawData: make([]byte, 11)}, nil, "11 bytes of data, want 12 for float[3]", nil},
		{"raw too long", &onnxpb.TensorProto{DataType: ptr(int32(Int64)), Dims: []int64{1}, RawData: make([]byte, 9)}, nil, "9 bytes of data, want 8", nil},
		{"empty raw for a scalar", &onnxpb.TensorProto{DataType: ptr(int32(Int8)), RawData: []byte{}}, nil, "0 bytes of data, want 1", nil},
		{"external too short", &onnxpb.TensorProto{DataType: ptr(int32(Float16)), Dims: []int64{2}, DataLocation: onnxpb.TensorProto_EXTERNAL.Enum()}, []byte{1, 2, 3}, "3 bytes of data, want 4", nil},
		{"typed too few", &onnxpb.TensorProto{DataType: ptr(int32(Float)), Dims: []int64{2, 2}, FloatData: []float32{1, 2, 3}}, nil, "3 values for 4 elements of float", nil},
		{"typed too many", &onnxpb.TensorProto{DataType: ptr(int32(Int32)), Dims: []int64{1}, Int32Data: []int32{1, 2}}, nil, "2 values for 1 elements of int32", nil},
		{"typed in the wrong field", &onnxpb.TensorProto{DataType: ptr(int32(Int64)), Dims: []int64{2}, Int32Data: []int32{1, 2}}, nil, "0 values for 2 elements of int64", nil},
		{"uint64 in int64_data", &onnxpb.TensorProto{DataType: ptr(int32(Uint64)), Dims: []int64{1}, Int64Data: []int64{1}}, nil, "0 values for 1 elements of uint64", nil},
		{"strings miscounted", &onnxpb.TensorProto{DataType: ptr(int32(String)), Dims: []int64{2}, StringData: [][]byte{[]byte("a")}}, nil, "1 strings for 2 elements", nil},
		{"negative dim", &onnxpb.TensorProto{DataType: ptr(int32(Float)), Dims: []int64{2, -1}}, nil, "negative dim -1", nil},
		{"dims overflow", &onnxpb.TensorProto{DataType: ptr(int32(Float)), Dims: []int64{1 << 40, 1 << 40}, RawData: []byte{}}, nil, "want -1", nil},
		{"dims overflow to a small count", &onnxpb.TensorProto{DataType: ptr(int32(Uint8)), Dims: []int64{1 << 62, 4, 1}, RawData: []byte{}}, nil, "0 bytes of data", nil},
		{"unknown type", &onnxpb.TensorProto{DataType: ptr(int32(99))}, nil, "unknown data type 99", nil},
		{"undefined type", &onnxpb.TensorProto{}, nil, "unknown data type 0", nil},
		{"complex", &onnxpb.TensorProto{DataType: ptr(int32(Complex64)), FloatData: []float32{1, 2}}, nil, "complex64", ErrUndecodable},
		{"int4", &onnxpb.TensorProto{DataType: ptr(int32(Int4)), RawData: []byte{1}}, nil, "int4", ErrUndecodable},
		{"segment", &onnxpb.TensorProto{DataType: ptr(int32(Float)), Segment: &onnxpb.TensorProto_Segment{Begin: ptr(int64(0)), End: ptr(int64(1))}}, nil, "segmented", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.tp.Name = ptr("bad")
			got, err := Decode(tc.tp, tc.ext)
			if err == nil {
				t.Fatalf("Decode = %+v, want an error", got)
			}
			if !strings.Contains(err.Error(), tc.wantErr) || !strings.HasPrefix(err.Error(), `tensor "bad": `) {
				t.Errorf("error %q: want it to name tensor \"bad\" and contain %q", err, tc.wantErr)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q does not wrap %v", err, tc.is)
			}
		})
	}
}

func TestRawDataAllTypes(t *testing.T) {
	tests := []struct {
		name    string
		tp      *onnxpb.TensorProto
		want    []byte
		wantErr string
	}{
		{"raw_data as is", &onnxpb.TensorProto{DataType: ptr(int32(Float)), Dims: []int64{1}, RawData: []byte{1, 2, 3, 4}}, []byte{1, 2, 3, 4}, ""},
		{"complex64 pairs", &onnxpb.TensorProto{DataType: ptr(int32(Complex64)), Dims: []int64{1}, FloatData: []float32{1, -1}}, f32bits(1, -1), ""},
		{"complex128 pairs", &onnxpb.TensorProto{DataType: ptr(int32(Complex128)), Dims: []int64{1}, DoubleData: []float64{2, 0}}, le64(math.Float64bits(2), 0), ""},
		{"float8 one byte each", &onnxpb.TensorProto{DataType: ptr(int32(Float8E4M3FN)), Dims: []int64{2}, Int32Data: []int32{0x38, 0xb8}}, []byte{0x38, 0xb8}, ""},
		{"int4 packed two per value", &onnxpb.TensorProto{DataType: ptr(int32(Int4)), Dims: []int64{3}, Int32Data: []int32{0x21, 0x0f}}, []byte{0x21, 0x0f}, ""},
		{"uint4 packed, even count", &onnxpb.TensorProto{DataType: ptr(int32(Uint4)), Dims: []int64{2, 2}, Int32Data: []int32{0x10, 0x32}}, []byte{0x10, 0x32}, ""},
		{"empty", &onnxpb.TensorProto{DataType: ptr(int32(Float)), Dims: []int64{0, 5}}, []byte{}, ""},
		{"string", &onnxpb.TensorProto{DataType: ptr(int32(String)), Dims: []int64{1}, StringData: [][]byte{{}}}, nil, "string tensors have no raw encoding"},
		{"external", &onnxpb.TensorProto{DataType: ptr(int32(Float)), DataLocation: onnxpb.TensorProto_EXTERNAL.Enum()}, nil, "data is external"},
		{"unknown type", &onnxpb.TensorProto{DataType: ptr(int32(77))}, nil, "unknown data type 77"},
		{"miscounted", &onnxpb.TensorProto{DataType: ptr(int32(Double)), Dims: []int64{2}, DoubleData: []float64{1}}, nil, "1 values for 2 elements of double"},
		{"int4 miscounted", &onnxpb.TensorProto{DataType: ptr(int32(Int4)), Dims: []int64{3}, Int32Data: []int32{1, 2, 3}}, nil, "3 values for 3 elements of int4"},
		{"complex miscounted", &onnxpb.TensorProto{DataType: ptr(int32(Complex64)), Dims: []int64{2}, FloatData: []float32{1, 2}}, nil, "2 values for 2 elements of complex64"},
		{"overflowing dims", &onnxpb.TensorProto{DataType: ptr(int32(Float)), Dims: []int64{1 << 62, 1 << 62}}, nil, "invalid dims"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.tp.Name = ptr("x")
			got, err := RawData(tc.tp)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), `tensor "x"`) {
					t.Fatalf("RawData = %x, %v, want an error naming tensor \"x\" containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || !bytes.Equal(got, tc.want) {
				t.Errorf("RawData = %x, %v, want %x", got, err, tc.want)
			}
		})
	}
}

// TestProtoNarrowsWithRounding: a float16 tensor holding float32 values that
// are not halves is rounded to nearest even when encoded.
func TestProtoNarrowsWithRounding(t *testing.T) {
	tt := &Tensor{DType: Float16, Dims: []int64{3}, F32: []float32{1 + 1.0/2048, 1 + 3.0/2048, 70000}}
	if got, want := tt.Proto("h").GetRawData(), le16(0x3c00, 0x3c02, 0x7c00); !bytes.Equal(got, want) {
		t.Errorf("float16 raw = %x, want %x", got, want)
	}
	tt = &Tensor{DType: BFloat16, Dims: []int64{2}, F32: []float32{1 + 1.0/256, 1 + 3.0/256}}
	if got, want := tt.Proto("b").GetRawData(), le16(0x3f80, 0x3f82); !bytes.Equal(got, want) {
		t.Errorf("bfloat16 raw = %x, want %x", got, want)
	}
}

func TestNumElementsAndRawSize(t *testing.T) {
	for _, tc := range []struct {
		dims []int64
		want int64
	}{
		{nil, 1},
		{[]int64{2, 3}, 6},
		{[]int64{0, 7}, 0},
		{[]int64{4, -1}, -1},
		{[]int64{1 << 32, 1 << 31}, -1},
		{[]int64{1 << 32, 1 << 32, 0}, 0}, // empty despite the overflow before the zero
		{[]int64{math.MaxInt64, 1}, math.MaxInt64},
	} {
		if got := NumElements(tc.dims); got != tc.want {
			t.Errorf("NumElements(%v) = %d, want %d", tc.dims, got, tc.want)
		}
	}
	for _, tc := range []struct {
		d    DType
		n    int64
		want int64
	}{
		{Float, 3, 12},
		{Int4, 3, 2},
		{Uint4, 4, 2},
		{Complex128, 2, 32},
		{Bool, 5, 5},
		{String, 5, -1},
		{Float, -1, -1},
		{Double, math.MaxInt64 / 4, -1},
	} {
		if got := tc.d.RawSize(tc.n); got != tc.want {
			t.Errorf("%s.RawSize(%d) = %d, want %d", tc.d, tc.n, got, tc.want)
		}
	}
}

func TestDTypeNames(t *testing.T) {
	for d, info := range dtypes {
		if got, ok := ByName(info.name); !ok || got != d {
			t.Errorf("ByName(%q) = %v, %v", info.name, got, ok)
		}
		if int32(d) != int32(onnxpb.TensorProto_DataType_value[strings.ToUpper(info.name)]) {
			t.Errorf("%s = %d, onnx says %d", info.name, d, onnxpb.TensorProto_DataType_value[strings.ToUpper(info.name)])
		}
	}
	if _, ok := ByName("float32"); ok {
		t.Error("ByName(float32) found a type; ONNX calls it float")
	}
}
