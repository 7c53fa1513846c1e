package client

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/model"
)

// unmarshalLocations is the slow, obvious ExternalLocations: unmarshal, then
// walk the Go structs with the pipeline's own walker. The fuzz test holds the
// wire walker to it.
func unmarshalLocations(b []byte) ([]string, bool) {
	mp := &onnxpb.ModelProto{}
	if proto.Unmarshal(b, mp) != nil {
		return nil, false
	}
	return model.ExternalLocations(mp), true
}

func FuzzExternalLocations(f *testing.F) {
	sub := &onnxpb.GraphProto{Initializer: []*onnxpb.TensorProto{external("s", "sub/s.bin")}}
	for _, mp := range []*onnxpb.ModelProto{
		{Graph: &onnxpb.GraphProto{Initializer: []*onnxpb.TensorProto{external("a", "w.bin"), {Name: proto.String("i"), RawData: []byte{1, 2}}}}},
		{Graph: &onnxpb.GraphProto{Node: []*onnxpb.NodeProto{{Attribute: []*onnxpb.AttributeProto{{G: sub, T: external("k", "k.bin")}}}}}},
		{TrainingInfo: []*onnxpb.TrainingInfoProto{{Algorithm: sub}}},
	} {
		b, _ := proto.Marshal(mp)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want, ok := unmarshalLocations(b)
		got, err := ExternalLocations(b)
		if !ok {
			return // the wire walker may accept what full decoding rejects (bad UTF-8, wrong types)
		}
		if err != nil {
			t.Fatalf("wire walk failed on a decodable model: %v", err)
		}
		if strings.Join(got, "\x00") != strings.Join(want, "\x00") {
			t.Errorf("got %q, want %q", got, want)
		}
	})
}
