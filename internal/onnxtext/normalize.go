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
	switch onnxpb.TensorProto_DataType(t.GetDataType()) {
	case onnxpb.TensorProto_FLOAT:
		if len(raw)%4 != 0 {
			return
		}
		for i := 0; i < len(raw); i += 4 {
			t.FloatData = append(t.FloatData, math.Float32frombits(binary.LittleEndian.Uint32(raw[i:])))
		}
	case onnxpb.TensorProto_DOUBLE:
		if len(raw)%8 != 0 {
			return
		}
		for i := 0; i < len(raw); i += 8 {
			t.DoubleData = append(t.DoubleData, math.Float64frombits(binary.LittleEndian.Uint64(raw[i:])))
		}
	case onnxpb.TensorProto_INT64:
		if len(raw)%8 != 0 {
			return
		}
		for i := 0; i < len(raw); i += 8 {
			t.Int64Data = append(t.Int64Data, int64(binary.LittleEndian.Uint64(raw[i:])))
		}
	case onnxpb.TensorProto_UINT64:
		if len(raw)%8 != 0 {
			return
		}
		for i := 0; i < len(raw); i += 8 {
			t.Uint64Data = append(t.Uint64Data, binary.LittleEndian.Uint64(raw[i:]))
		}
	case onnxpb.TensorProto_UINT32:
		if len(raw)%4 != 0 {
			return
		}
		for i := 0; i < len(raw); i += 4 {
			t.Uint64Data = append(t.Uint64Data, uint64(binary.LittleEndian.Uint32(raw[i:])))
		}
	case onnxpb.TensorProto_INT32:
		if len(raw)%4 != 0 {
			return
		}
		for i := 0; i < len(raw); i += 4 {
			t.Int32Data = append(t.Int32Data, int32(binary.LittleEndian.Uint32(raw[i:])))
		}
	case onnxpb.TensorProto_INT16:
		if len(raw)%2 != 0 {
			return
		}
		for i := 0; i < len(raw); i += 2 {
			t.Int32Data = append(t.Int32Data, int32(int16(binary.LittleEndian.Uint16(raw[i:]))))
		}
	case onnxpb.TensorProto_UINT16, onnxpb.TensorProto_FLOAT16, onnxpb.TensorProto_BFLOAT16:
		if len(raw)%2 != 0 {
			return
		}
		for i := 0; i < len(raw); i += 2 {
			t.Int32Data = append(t.Int32Data, int32(binary.LittleEndian.Uint16(raw[i:])))
		}
	case onnxpb.TensorProto_INT8:
		for _, b := range raw {
			t.Int32Data = append(t.Int32Data, int32(int8(b)))
		}
	case onnxpb.TensorProto_UINT8, onnxpb.TensorProto_BOOL:
		for _, b := range raw {
			t.Int32Data = append(t.Int32Data, int32(b))
		}
	default:
		return
	}
	t.RawData = nil
}
