package onnxtext

import (
	"testing"
)

// FuzzParseModel checks that no input makes the parser or the printer panic,
// and that whatever parses prints to text that parses again.
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
		if _, err := ParseModel(text); err != nil {
			t.Fatalf("printed text does not parse: %v\ninput:\n%s\nprinted:\n%s", err, src, text)
		}
	})
}
