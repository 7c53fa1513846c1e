package infer

import (
	"errors"
	"strings"
	"testing"

	"github.com/quantprep/quantprep/pipeline/model"
)

// TestEntryPanic: an entry that panics gives an error wrapping
// model.ErrInternal (the panic policy), which inferNode turns into a warning
// naming the node; the run goes on.
func TestEntryPanic(t *testing.T) {
	err := safeInfer(func(*Context) error { panic("entry bug") }, &Context{})
	if !errors.Is(err, model.ErrInternal) || !strings.Contains(err.Error(), "entry bug") || !strings.Contains(err.Error(), "(a bug)") {
		t.Fatalf("err = %v, want one wrapping model.ErrInternal with the panic's value", err)
	}
}
