package pipeline

import (
	"context"
	"fmt"
	"runtime/debug"

	"github.com/quantprep/quantprep/pipeline/model"
)

// prepare checks the model before any step (model.Validate, the node
// budget) and makes its sparse initializers dense.
func prepare(m *model.Model, b Budgets) error {
	b = b.WithDefaults()
	if err := model.Validate(m.Proto); err != nil {
		return err
	}
	if n := model.CountParsedNodes(m.Proto); n > b.MaxNodes {
		return fmt.Errorf("%w: the model has %d nodes, over the budget of %d", model.ErrOverBudget, n, b.MaxNodes)
	}
	return m.Densify(b.MaxDenseBytes)
}

// runStep runs one step, turning a panic into an error wrapping
// model.ErrInternal (RunModel names the step; the stack, kept for a log,
// says where it happened), so that a bug fails the request and not the
// process. This is the last of the recovers the panic policy sets out
// (model.ErrInternal): the ones inside the steps name the node and op.
func runStep(ctx context.Context, s step, m *model.Model, o Options, r *StepReport) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &panicError{value: p, stack: debug.Stack()}
		}
	}()
	return s.run(ctx, m, o, r)
}

// panicError is a panic caught at a step's boundary; its stack stays for a log.
type panicError struct {
	value any
	stack []byte
}

func (e *panicError) Error() string {
	return fmt.Sprintf("%v: panicked (a bug): %v", model.ErrInternal, e.value)
}

func (e *panicError) Unwrap() error { return model.ErrInternal }

// Stack is the stack of the goroutine where the panic happened.
func (e *panicError) Stack() []byte { return e.stack }
