package server

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"google.golang.org/protobuf/proto"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
)

// testModel builds y = (x + w) + b over float[1, n], with w and b as raw-data
// initializers of n floats each.
func testModel(n int) *onnxpb.ModelProto {
	floats := func(name string, scale float32) *onnxpb.TensorProto {
		raw := make([]byte, 4*n)
		for i := range n {
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(scale*float32(i)))
		}
		return &onnxpb.TensorProto{Name: proto.String(name), Dims: []int64{int64(n)},
			DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), RawData: raw}
	}
	vi := func(name string) *onnxpb.ValueInfoProto {
		return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{
			Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{
				ElemType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)),
				Shape: &onnxpb.TensorShapeProto{Dim: []*onnxpb.TensorShapeProto_Dimension{
					{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: 1}},
					{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(n)}},
				}},
			}}}}
	}
	node := func(name, a, b, out string) *onnxpb.NodeProto {
		return &onnxpb.NodeProto{Name: proto.String(name), OpType: proto.String("Add"), Input: []string{a, b}, Output: []string{out}}
	}
	return &onnxpb.ModelProto{
		IrVersion:    proto.Int64(8),
		ProducerName: proto.String("quantprep-test"),
		OpsetImport:  []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)}},
		Graph: &onnxpb.GraphProto{
			Name:        proto.String("g"),
			Node:        []*onnxpb.NodeProto{node("add0", "x", "w", "t"), node("add1", "t", "b", "y")},
			Initializer: []*onnxpb.TensorProto{floats("w", 0.5), floats("b", -0.25)},
			Input:       []*onnxpb.ValueInfoProto{vi("x")},
			Output:      []*onnxpb.ValueInfoProto{vi("y")},
		},
	}
}

// writeModel writes mp to dir/name. With locations given, initializer i's data
// goes as external data to dir/locations[i % len(locations)].
func writeModel(t testing.TB, mp *onnxpb.ModelProto, dir, name string, locations ...string) string {
	t.Helper()
	mp = proto.Clone(mp).(*onnxpb.ModelProto)
	files := map[string][]byte{}
	if len(locations) > 0 {
		for i, tp := range mp.GetGraph().GetInitializer() {
			location := locations[i%len(locations)]
			data := files[location]
			off, n := len(data), len(tp.GetRawData())
			files[location] = append(data, tp.GetRawData()...)
			tp.RawData = nil
			tp.DataLocation = onnxpb.TensorProto_EXTERNAL.Enum()
			tp.ExternalData = []*onnxpb.StringStringEntryProto{
				{Key: proto.String("location"), Value: proto.String(location)},
				{Key: proto.String("offset"), Value: proto.String(strconv.Itoa(off))},
				{Key: proto.String("length"), Value: proto.String(strconv.Itoa(n))},
			}
		}
	}
	for location, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(location))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(mp)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
