package pipeline

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quantprep/quantprep/pipeline/model"
)

// TestStepPanic: a panic in a step fails the run with model.ErrInternal naming the
// step; the process goes on and the next run succeeds.
func TestStepPanic(t *testing.T) {
	saved := steps
	defer func() { steps = saved }()
	steps = append([]step{{name: "boom", run: func(context.Context, *model.Model, Options, *StepReport) error {
		var m map[string]int
		m["x"] = 1 // a nil map write: a bug
		return nil
	}}}, saved...)
	dir := t.TempDir()
	in := writeModel(t, dir, addModel())
	out := filepath.Join(dir, "out.onnx")
	_, err := Run(context.Background(), in, out, DefaultOptions(), nil)
	if !errors.Is(err, model.ErrInternal) || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("err = %v, want model.ErrInternal naming the step", err)
	}
	var pe interface{ Stack() []byte }
	if !errors.As(err, &pe) || len(pe.Stack()) == 0 {
		t.Errorf("the panic's stack is not kept for the log")
	}
	steps = saved
	if _, err := Run(context.Background(), in, out, DefaultOptions(), nil); err != nil {
		t.Fatalf("a run after the panic: %v", err)
	}
}
