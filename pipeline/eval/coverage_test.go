package eval

import (
	"testing"

	"github.com/quantprep/quantprep/pipeline/opset/opsettest"
)

// TestCoverage checks the kernel rows against ONNX's schema history (see
// opsettest.Check): from an operator's first row on, every version where ONNX
// changed it has a row, a kernel or an "unchanged since" marker with its
// reason. An operator may start after its first version: folding skips
// older nodes.
func TestCoverage(t *testing.T) {
	bad, err := opsettest.Check(registry, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bad {
		t.Error(b)
	}
}
