package infer

import (
	"testing"

	"github.com/quantprep/quantprep/pipeline/opset"
	"github.com/quantprep/quantprep/pipeline/opset/opsettest"
)

// TestCoverage checks the registry against ONNX's schema history (see
// opsettest.Check): every version of every registered operator has a row, a
// rule or an "unchanged since" marker with its reason, from the operator's
// first version on; an operator without rows must be listed in
// unsupported.go, and unsupported.go lists nothing registered.
func TestCoverage(t *testing.T) {
	bad, err := opsettest.Check(registry, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bad {
		t.Error(b)
	}
	schemas, err := opsettest.Schemas()
	if err != nil {
		t.Fatal(err)
	}
	registered := map[opset.Key]bool{}
	for _, k := range registry.Ops() {
		registered[k] = true
	}
	for k := range schemas {
		if _, ok := unsupported[k]; !ok && !registered[k] {
			t.Errorf("%s: no registry rows and not in unsupported.go", k)
		}
	}
	for k := range unsupported {
		if registered[k] {
			t.Errorf("%s is registered and listed in unsupported.go", k)
		}
		if _, ok := schemas[k]; !ok {
			t.Errorf("%s in unsupported.go is not in ONNX's schemas", k)
		}
	}
}
