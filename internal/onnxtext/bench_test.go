package onnxtext

import (
	"fmt"
	"strings"
	"testing"
)

// syntheticModel writes a chain of n Conv/Relu pairs with a weights tensor of
// elems elements, so benchmarks measure both node-heavy and data-heavy text.
func syntheticModel(n, elems int) string {
	var b strings.Builder
	b.WriteString("<ir_version: 8, opset_import: [\"\" : 17]>\nchain (float[N, 8, 32, 32] x0) => (float[N, 8, 32, 32] y)\n")
	fmt.Fprintf(&b, "  <float[%d] w = {", elems)
	for i := 0; i < elems; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%g", float32(i)*0.37)
	}
	b.WriteString("}>\n{\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  c%d = Conv <kernel_shape = [3, 3], pads = [1, 1, 1, 1], strides = [1, 1]> (x%d, w)\n", i, i)
		fmt.Fprintf(&b, "  x%d = Relu (c%d)\n", i+1, i)
	}
	fmt.Fprintf(&b, "  y = Identity (x%d)\n}\n", n)
	return b.String()
}

func BenchmarkParseNodes(b *testing.B) {
	src := syntheticModel(1000, 16)
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		if _, err := ParseModel(src); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseTensor(b *testing.B) {
	src := syntheticModel(1, 1<<20)
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		if _, err := ParseModel(src); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPrintGraph(b *testing.B) {
	m := MustParseModel(syntheticModel(1000, 1<<16))
	for b.Loop() {
		_ = PrintGraph(m.Graph)
	}
}

func BenchmarkPrintTensorFull(b *testing.B) {
	m := MustParseModel(syntheticModel(1, 1<<20))
	for b.Loop() {
		_ = Printer{MaxElements: -1}.Graph(m.Graph)
	}
}
