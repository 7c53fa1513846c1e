package onnxtext

import (
	"encoding/binary"
	"math"
	"strings"
	"testing"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/internal/float16"
	"google.golang.org/protobuf/proto"
)

func rawF32(vals ...float32) []byte {
	b := make([]byte, 4*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

func ttype(et onnxpb.TensorProto_DataType, dims ...any) *onnxpb.TypeProto {
	s := &onnxpb.TensorShapeProto{}
	for _, d := range dims {
		switch d := d.(type) {
		case int:
			s.Dim = append(s.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(d)}})
		case string:
			s.Dim = append(s.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: d}})
		}
	}
	return &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(int32(et)), Shape: s}}}
}

func vi(name string, tp *onnxpb.TypeProto) *onnxpb.ValueInfoProto {
	return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: tp}
}

// TestPrintGraphGolden pins the printed layout that golden files in other
// packages depend on.
func TestPrintGraphGolden(t *testing.T) {
	g := &onnxpb.GraphProto{
		Name:   proto.String("g"),
		Input:  []*onnxpb.ValueInfoProto{vi("x", ttype(onnxpb.TensorProto_FLOAT, "N", 4)), vi("input.1", ttype(onnxpb.TensorProto_INT64))},
		Output: []*onnxpb.ValueInfoProto{vi("y", ttype(onnxpb.TensorProto_FLOAT, "N", 4))},
		Initializer: []*onnxpb.TensorProto{
			{Name: proto.String("w"), DataType: proto.Int32(1), Dims: []int64{4}, RawData: rawF32(1, 2.5, -3, 0.1)},
			{Name: proto.String("big"), DataType: proto.Int32(1), Dims: []int64{17}, FloatData: make([]float32, 17)},
		},
		Node: []*onnxpb.NodeProto{
			{Name: proto.String("add_1"), OpType: proto.String("Add"), Domain: proto.String(""), Input: []string{"x", "w"}, Output: []string{"t"}},
			{OpType: proto.String("FusedThing"), Domain: proto.String("com.microsoft"), Input: []string{"t", "", "big"}, Output: []string{"y", ""},
				Attribute: []*onnxpb.AttributeProto{
					{Name: proto.String("alpha"), Type: onnxpb.AttributeProto_FLOAT.Enum(), F: proto.Float32(1)},
					{Name: proto.String("perm"), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: []int64{0, 2, 1}},
					{Name: proto.String("none"), Type: onnxpb.AttributeProto_FLOATS.Enum()},
				}},
		},
	}
	want := `g (float[N,4] x, int64 "input.1") => (float[N,4] y)
  <float[4] w = {1, 2.5, -3, 0.1}, float[17] big = {...}>
{
  [add_1] t = Add (x, w)
  y, = com.microsoft.FusedThing <alpha = 1.0, perm = [0, 2, 1], none: floats = []> (t, , big)
}
`
	if got := PrintGraph(g); got != want {
		t.Errorf("PrintGraph:\n%s\nwant:\n%s", got, want)
	}
	full := Printer{MaxElements: -1}.Graph(g)
	if !strings.Contains(full, "float[17] big = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}") {
		t.Errorf("MaxElements -1 should print everything:\n%s", full)
	}
	back, err := ParseGraph(full)
	if err != nil {
		t.Fatal(err)
	}
	equalNormalized(t, g, back)
	if _, err := ParseGraph(PrintGraph(g)); err == nil || !strings.Contains(err.Error(), `2:53: tensor "big": values were elided`) {
		t.Errorf("elided text: got error %v", err)
	}
}

// TestPrintRoundTripProtos round-trips protos built in Go, covering what
// text-first tests cannot: raw_data of every decodable type, odd names,
// special floats and external data.
func TestPrintRoundTripProtos(t *testing.T) {
	raw := func(et onnxpb.TensorProto_DataType, b []byte, dims ...int64) *onnxpb.TensorProto {
		return &onnxpb.TensorProto{Name: proto.String(elemTypeNames[et] + "_raw"), DataType: proto.Int32(int32(et)), Dims: dims, RawData: b}
	}
	g := &onnxpb.GraphProto{
		Name: proto.String("graph with spaces"),
		Initializer: []*onnxpb.TensorProto{
			raw(onnxpb.TensorProto_FLOAT, rawF32(float32(math.Inf(-1)), float32(math.Copysign(0, -1)), 3.4028235e38, 1e-45), 4),
			raw(onnxpb.TensorProto_DOUBLE, binary.LittleEndian.AppendUint64(nil, math.Float64bits(0.1)), 1),
			raw(onnxpb.TensorProto_INT64, binary.LittleEndian.AppendUint64(nil, uint64(1)<<63), 1),
			raw(onnxpb.TensorProto_INT32, binary.LittleEndian.AppendUint32(nil, 0xffffffff), 1),
			raw(onnxpb.TensorProto_INT16, []byte{0x00, 0x80}, 1),
			raw(onnxpb.TensorProto_UINT16, []byte{0xff, 0xff}, 1),
			raw(onnxpb.TensorProto_INT8, []byte{0x80, 0x7f}, 2),
			raw(onnxpb.TensorProto_UINT8, []byte{0xff}, 1),
			raw(onnxpb.TensorProto_BOOL, []byte{1, 0}, 2),
			raw(onnxpb.TensorProto_UINT32, binary.LittleEndian.AppendUint32(nil, 0xffffffff), 1),
			raw(onnxpb.TensorProto_UINT64, binary.LittleEndian.AppendUint64(nil, math.MaxUint64), 1),
			raw(onnxpb.TensorProto_FLOAT16, []byte{0x00, 0x3c, 0x01, 0x00, 0xff, 0x7b}, 3),
			raw(onnxpb.TensorProto_BFLOAT16, []byte{0x80, 0x3f}, 1),
			{Name: proto.String("ext"), DataType: proto.Int32(1), Dims: []int64{1 << 20}, DataLocation: onnxpb.TensorProto_EXTERNAL.Enum(),
				ExternalData: []*onnxpb.StringStringEntryProto{{Key: proto.String("location"), Value: proto.String("w.bin")}}},
		},
		Input:  []*onnxpb.ValueInfoProto{vi("float", ttype(onnxpb.TensorProto_FLOAT)), vi("onnx::Add_3", nil), vi("nan", ttype(onnxpb.TensorProto_FLOAT, "unk__0", "batch*2"))},
		Output: []*onnxpb.ValueInfoProto{vi("", nil)},
		Node: []*onnxpb.NodeProto{{
			OpType: proto.String("Weird"), Input: []string{""}, Output: []string{"", "seq"},
			Attribute: []*onnxpb.AttributeProto{
				{Name: proto.String("f"), Type: onnxpb.AttributeProto_FLOATS.Enum(), Floats: []float32{float32(math.NaN()), float32(math.Copysign(0, -1)), 1e30, 3}},
				{Name: proto.String("s"), Type: onnxpb.AttributeProto_STRING.Enum(), S: []byte("\x00\xfe\"\\")},
				{Name: proto.String("t"), Type: onnxpb.AttributeProto_TENSOR.Enum(), T: raw(onnxpb.TensorProto_INT8, []byte{5}, 1)},
				{Name: proto.String("tp"), Type: onnxpb.AttributeProto_TYPE_PROTO.Enum(), Tp: ttype(onnxpb.TensorProto_INT64, "N")},
				{Name: proto.String("gs"), Type: onnxpb.AttributeProto_GRAPHS.Enum(), Graphs: []*onnxpb.GraphProto{{Name: proto.String("a")}}},
			},
		}},
	}
	text := Printer{MaxElements: -1}.Graph(g)
	back, err := ParseGraph(text)
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	// proto.Equal treats NaN as equal to NaN, so the NaN attribute is
	// checked by the comparison below.
	equalNormalized(t, g, back)
}

// TestFloat16Conversions checks that every half and bfloat16 value except
// NaNs survives widening to float32 and narrowing back, which is what
// printing and parsing float16 tensors relies on.
func TestFloat16Conversions(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		if f := float16.ToFloat32(h); !math.IsNaN(float64(f)) {
			if back := float16.FromFloat32(f); back != h {
				t.Fatalf("float16 %#04x -> %v -> %#04x", h, f, back)
			}
		}
		if f := float16.BFloat16ToFloat32(h); !math.IsNaN(float64(f)) {
			if back := float16.BFloat16FromFloat32(f); back != h {
				t.Fatalf("bfloat16 %#04x -> %v -> %#04x", h, f, back)
			}
		}
	}
	tests := []struct {
		in   float32
		want uint16
	}{
		{1.0009765625, 0x3c01},  // exact
		{1.00048828125, 0x3c00}, // halfway, rounds to even
		{1.00146484375, 0x3c02}, // halfway, rounds to even (up)
		{65520, 0x7c00},         // rounds to +inf
		{2.9802322e-08, 0x0000}, // half of the smallest subnormal: to even (zero)
		{4.4703484e-08, 0x0001}, // above half: smallest subnormal
		{float32(math.Inf(-1)), 0xfc00},
	}
	for _, tc := range tests {
		if got := float16.FromFloat32(tc.in); got != tc.want {
			t.Errorf("float16.FromFloat32(%v) = %#04x, want %#04x", tc.in, got, tc.want)
		}
	}
}

// TestNormalize checks that explicit zero values and raw_data do not make
// equal models compare unequal, and that real differences remain.
func TestNormalize(t *testing.T) {
	a := &onnxpb.NodeProto{OpType: proto.String("Relu"), Domain: proto.String("")}
	b := &onnxpb.NodeProto{OpType: proto.String("Relu")}
	Normalize(a)
	if !proto.Equal(a, b) {
		t.Errorf("explicit empty domain not cleared: %v", a)
	}
	r := &onnxpb.TensorProto{DataType: proto.Int32(1), RawData: rawF32(1, 2)}
	Normalize(r)
	if r.RawData != nil || len(r.FloatData) != 2 || r.FloatData[1] != 2 {
		t.Errorf("raw_data not decoded: %v", r)
	}
	d := &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: 0}}
	Normalize(d)
	if d.Value == nil {
		t.Errorf("dim_value 0 must stay set: it differs from an unknown dimension")
	}
	c := &onnxpb.NodeProto{OpType: proto.String("Relu"), Domain: proto.String("com.microsoft")}
	explicit := &onnxpb.NodeProto{OpType: proto.String("Relu"), Domain: proto.String("")}
	if !Equal(explicit, b) || Equal(c, b) || explicit.Domain == nil {
		t.Errorf("Equal must normalize copies and tell real differences apart")
	}
	Normalize(c)
	if proto.Equal(c, b) {
		t.Errorf("a real domain difference was normalized away")
	}
}

// TestPrintFunctionValueInfoOrder checks that function value infos keep their
// order whether or not they can be written inline as parameter types.
func TestPrintFunctionValueInfoOrder(t *testing.T) {
	ft := ttype(onnxpb.TensorProto_FLOAT, "N")
	tests := []struct {
		name string
		vis  []*onnxpb.ValueInfoProto
		want string
	}{
		{"inline", []*onnxpb.ValueInfoProto{vi("x", ft), vi("tmp", ft)}, "f (float[N] x) => (y)\n  <float[N] tmp>\n{"},
		{"list keeps order", []*onnxpb.ValueInfoProto{vi("tmp", ft), vi("x", ft)}, "f (x) => (y)\n  <float[N] tmp, float[N] x>\n{"},
		{"untyped stays in list", []*onnxpb.ValueInfoProto{vi("x", nil)}, "f (x) => (y)\n  <x>\n{"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &onnxpb.FunctionProto{Name: proto.String("f"), Input: []string{"x"}, Output: []string{"y"}, ValueInfo: tc.vis,
				Node: []*onnxpb.NodeProto{{OpType: proto.String("Relu"), Input: []string{"x"}, Output: []string{"y"}}}}
			text := PrintFunction(f)
			if !strings.HasPrefix(text, tc.want) {
				t.Errorf("printed:\n%s\nwant prefix:\n%s", text, tc.want)
			}
			back, err := ParseFunction(text)
			if err != nil {
				t.Fatal(err)
			}
			equalNormalized(t, f, back)
		})
	}
}
