// Package crosscheck holds tests that hold one module's code to another's:
// the client module's wire walker against the pipeline's model walker. They
// live in the main module because the client module must not depend on the
// pipeline, not even in its tests (its consumers would inherit it).
package crosscheck

import (
	"bytes"
	"runtime"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/client"
	"github.com/quantprep/quantprep/pipeline/model"
)

func external(name, loc string) *onnxpb.TensorProto {
	return &onnxpb.TensorProto{Name: proto.String(name), DataLocation: onnxpb.TensorProto_EXTERNAL.Enum(),
		ExternalData: []*onnxpb.StringStringEntryProto{{Key: proto.String("location"), Value: proto.String(loc)}}}
}

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
		got, err := client.ExternalLocations(b)
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

// TestExternalLocationsFromSkipsWeights checks that reading the locations of
// a model with 16 MB of inline weights allocates far less than the weights:
// they are skipped in the stream, not read.
func TestExternalLocationsFromSkipsWeights(t *testing.T) {
	big := &onnxpb.TensorProto{Name: proto.String("w"), RawData: make([]byte, 16<<20)}
	mp := &onnxpb.ModelProto{Graph: &onnxpb.GraphProto{Initializer: []*onnxpb.TensorProto{big, external("e", "e.bin")}}}
	b, err := proto.Marshal(mp)
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	got, err := client.ExternalLocationsFrom(bytes.NewReader(b))
	runtime.ReadMemStats(&after)
	if err != nil || len(got) != 1 || got[0] != "e.bin" {
		t.Fatalf("got %q, %v; want [e.bin]", got, err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Errorf("allocated %d bytes for a model of %d: the weights were read", n, len(b))
	}
	if _, err := client.ExternalLocationsFrom(bytes.NewReader(b[:len(b)/2])); err == nil {
		t.Error("a model cut in half gave no error")
	}
}
