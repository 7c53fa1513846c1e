package infer

import (
	"testing"

	"github.com/quantprep/quantprep/pipeline/opset"
	"github.com/quantprep/quantprep/pipeline/opset/opsettest"
)

// TestCoverage checks that every version of every operator of ONNX's schemas
// (opsettest.Schemas) has a rule, or that the operator is listed in
// unsupported.go, and that unsupported.go lists nothing registered.
func TestCoverage(t *testing.T) {
	schemas, err := opsettest.Schemas()
	if err != nil {
		t.Fatal(err)
	}
	registered := map[opset.Key]bool{}
	for _, k := range registry.Ops() {
		registered[k] = true
	}
	for k := range schemas {
		if _, ok := unsupported[k]; ok {
			continue
		}
		for _, v := range schemas[k] {
			if _, ok := registry.Lookup(k.Domain, k.Name, v); !ok {
				t.Errorf("%s version %d: no rule and not in unsupported.go", k, v)
			}
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
