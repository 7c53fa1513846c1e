package onnxtext

import (
	"testing"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
)

// FuzzParseModel checks that no input makes the parser or the printer panic,
// and that whatever parses prints to text that parses back to the same model.
func FuzzParseModel(f *testing.F) {
	for _, src := range corpus(f) {
		f.Add(src)
	}
	f.Add("g (float[N] x) => (float[N] y) { y = Relu <a = [g () => () {}]> (x) }")
	f.Add("<ir_version: 8> g () => () { , = A <t = float {...}> () }")
	f.Fuzz(func(t *testing.T, src string) {
		m, err := ParseModel(src)
		if err != nil {
			return
		}
		text := Printer{MaxElements: -1}.Model(m)
		back, err := ParseModel(text)
		if err != nil {
			t.Fatalf("printed text does not parse: %v\ninput:\n%s\nprinted:\n%s", err, src, text)
		}
		Normalize(m)
		Normalize(back)
		if !proto.Equal(m, back) {
			t.Fatalf("round trip changed the model\ninput:\n%s\nprinted:\n%s\nfirst:\n%s\nsecond:\n%s", src, text, prototext.Format(m), prototext.Format(back))
		}
	})
}
