package optimize

import (
	"context"
	"errors"
	"strings"
	"testing"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
)

// TestRulePanic: a rule that panics fails the run with ErrInternal naming the
// rule, node and operator, instead of taking the process down.
func TestRulePanic(t *testing.T) {
	saved := rules
	defer func() { rules = saved }()
	rules = append([]rule{{name: "Boom", ops: []string{"Relu"}, apply: func(*graph, *onnxpb.NodeProto) bool {
		panic("rule bug")
	}}}, saved...)
	_, err := Run(context.Background(), malformed("Relu", 1, 1, false), Config{})
	if !errors.Is(err, ErrInternal) {
		t.Fatalf("err = %v, want ErrInternal", err)
	}
	for _, want := range []string{"Boom", "Relu", "rule bug"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}
