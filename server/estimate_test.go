package server

import (
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/internal/onnxtext"
)

// decodedValues counts what countValues should: the messages and the
// strings of a decoded message, recursively.
func decodedValues(m protoreflect.Message) int64 {
	n := int64(1)
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Kind() == protoreflect.MessageKind:
			for i := range v.List().Len() {
				n += decodedValues(v.List().Get(i).Message())
			}
		case fd.IsList() && fd.Kind() == protoreflect.StringKind:
			n += int64(v.List().Len())
		case fd.Kind() == protoreflect.MessageKind:
			n += decodedValues(v.Message())
		case fd.Kind() == protoreflect.StringKind:
			n++
		}
		return true
	})
	return n
}

// TestCountValues checks the wire count against the decoded model's, on
// models with subgraphs, attributes, external data and a large weight, and
// that a truncated file is an error, not a guess.
func TestCountValues(t *testing.T) {
	sub, err := onnxtext.ParseModel(`<ir_version: 8, opset_import: ["" : 17]>
g (bool c, float[2] x) => (float[2] y) {
  y = If (c) <then_branch = t () => (float[2] a) { a = Identity (x) }, else_branch = e () => (float[2] b) { b = Neg (x) }>
}`)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, mp := range map[string]*onnxpb.ModelProto{"weights": testModel(100000), "subgraphs": sub} {
		p := filepath.Join(dir, name+".onnx")
		b, err := proto.Marshal(mp)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(p, b, 0o644)
		got, err := countValues(p)
		if want := decodedValues(mp.ProtoReflect()); err != nil || got != want {
			t.Errorf("%s: countValues = %d, %v; want %d", name, got, err, want)
		}
		os.WriteFile(p, b[:len(b)-3], 0o644)
		if _, err := countValues(p); err == nil {
			t.Errorf("%s: a truncated model counts without an error", name)
		}
	}
	ext := writeModel(t, testModel(16), dir, "ext.onnx", "a.bin")
	mp := &onnxpb.ModelProto{}
	b, _ := os.ReadFile(ext)
	proto.Unmarshal(b, mp)
	if got, err := countValues(ext); err != nil || got != decodedValues(mp.ProtoReflect()) {
		t.Errorf("external: countValues = %d, %v; want %d", got, err, decodedValues(mp.ProtoReflect()))
	}
}
