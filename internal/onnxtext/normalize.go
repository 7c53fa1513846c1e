package onnxtext

import (
	"encoding/binary"
	"math"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Normalize rewrites m in place into the form a print/parse round trip
// produces, so that proto.Equal compares meaning rather than encoding:
// optional scalar fields explicitly set to their zero value are cleared
// (the C++ parser sets domain: "" on every node; ours does not), and tensor
// raw_data is decoded into the typed data fields for the element types the
// syntax has literals for.
func Normalize(m proto.Message) {
	normalize(m.ProtoReflect())
}

func normalize(m protoreflect.Message) {
	if t, ok := m.Interface().(*onnxpb.TensorProto); ok {
		decodeRaw(t)
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				normalize(l.Get(i).Message())
			}
		case fd.IsMap():
		case fd.Message() != nil:
			normalize(v.Message())
		case fd.IsList():
		case fd.ContainingOneof() != nil:
			// A oneof member's presence carries meaning (dim_value: 0).
		default:
			if v.Equal(fd.Default()) {
				m.Clear(fd)
			}
		}
		return true
	})
}

// decodeRaw moves raw_data into the typed fields when the element type has a
// typed representation the parser produces.
func decodeRaw(t *onnxpb.TensorProto) {
	if t.RawData == nil {
		return
	}
	raw := t.RawData
	u16 := func(b []byte) uint16 { return binary.LittleEndian.Uint16(b) }
	u32 := func(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }
	u64 := func(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }
	var ok bool
	switch onnxpb.TensorProto_DataType(t.GetDataType()) {
	case onnxpb.TensorProto_FLOAT:
		ok = decodeLE(&t.FloatData, raw, 4, func(b []byte) float32 { return math.Float32frombits(u32(b)) })
	case onnxpb.TensorProto_DOUBLE:
		ok = decodeLE(&t.DoubleData, raw, 8, func(b []byte) float64 { return math.Float64frombits(u64(b)) })
	case onnxpb.TensorProto_INT64:
		ok = decodeLE(&t.Int64Data, raw, 8, func(b []byte) int64 { return int64(u64(b)) })
	case onnxpb.TensorProto_UINT64:
		ok = decodeLE(&t.Uint64Data, raw, 8, u64)
	case onnxpb.TensorProto_UINT32:
		ok = decodeLE(&t.Uint64Data, raw, 4, func(b []byte) uint64 { return uint64(u32(b)) })
	case onnxpb.TensorProto_INT32:
		ok = decodeLE(&t.Int32Data, raw, 4, func(b []byte) int32 { return int32(u32(b)) })
	case onnxpb.TensorProto_INT16:
		ok = decodeLE(&t.Int32Data, raw, 2, func(b []byte) int32 { return int32(int16(u16(b))) })
	case onnxpb.TensorProto_UINT16, onnxpb.TensorProto_FLOAT16, onnxpb.TensorProto_BFLOAT16:
		ok = decodeLE(&t.Int32Data, raw, 2, func(b []byte) int32 { return int32(u16(b)) })
	case onnxpb.TensorProto_INT8:
		ok = decodeLE(&t.Int32Data, raw, 1, func(b []byte) int32 { return int32(int8(b[0])) })
	case onnxpb.TensorProto_UINT8, onnxpb.TensorProto_BOOL:
		ok = decodeLE(&t.Int32Data, raw, 1, func(b []byte) int32 { return int32(b[0]) })
	}
	if !ok {
		return
	}
	t.RawData = nil
}

// decodeLE appends to dst each size-byte little-endian element of raw,
// converted by conv; it reports false, appending nothing, when raw does not
// hold whole elements.
func decodeLE[T any](dst *[]T, raw []byte, size int, conv func([]byte) T) bool {
	if len(raw)%size != 0 {
		return false
	}
	for i := 0; i < len(raw); i += size {
		*dst = append(*dst, conv(raw[i:]))
	}
	return true
}

// Equal reports whether a and b are equal after Normalize, without
// modifying either.
func Equal(a, b proto.Message) bool {
	a, b = proto.Clone(a), proto.Clone(b)
	Normalize(a)
	Normalize(b)
	return proto.Equal(a, b)
}
