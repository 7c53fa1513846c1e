package pipeline

import (
	"context"
	"fmt"
	"runtime/debug"

	"github.com/quantprep/quantprep/pipeline/eval"
	"github.com/quantprep/quantprep/pipeline/infer"
	"github.com/quantprep/quantprep/pipeline/model"
	"github.com/quantprep/quantprep/pipeline/optimize"
)

// Budgets bound what one run may spend on sizes computed from the model's
// data, each checked before anything is allocated. The defaults keep a
// request far below a container's 4 GiB (Estimate gives the whole bound).
// 0 means the default.
type Budgets struct {
	// MaxFoldBytes bounds what constant folding allocates for one node (its
	// outputs and index tables); a node over it stays unfolded, with a
	// warning naming it. Default eval.DefaultMaxBytes.
	MaxFoldBytes int64
	// MaxFoldTotalBytes bounds what constant folding adds to the model over
	// the run. Default optimize.DefaultMaxFoldTotalBytes.
	MaxFoldTotalBytes int64
	// MaxNodeVisits bounds the nodes shape inference visits in one step,
	// counting function bodies and subgraphs once per expansion; over it the
	// run fails with an error wrapping model.ErrOverBudget naming the
	// function. Default infer.DefaultMaxNodeVisits or four times the
	// model's nodes, whichever is larger.
	MaxNodeVisits int64
	// MaxNodes bounds the nodes of the model, in every graph and function.
	// Default (and upper bound: the loader refuses more before parsing)
	// model.DefaultMaxNodes.
	MaxNodes int64
	// MaxDenseBytes bounds the dense value of one sparse initializer.
	// Default eval.DefaultMaxBytes.
	MaxDenseBytes int64
}

// Validate checks the budgets alone, as Options.Validate does; its errors
// name the flag at fault and wrap ErrInvalidOptions.
func (b Budgets) Validate() error {
	return b.validate(func(flag, format string, a ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalidOptions, flag, fmt.Sprintf(format, a...))
	})
}

func (b Budgets) validate(bad func(flag, format string, a ...any) error) error {
	for _, f := range []struct {
		flag string
		v    int64
	}{
		{"max_fold_bytes", b.MaxFoldBytes}, {"max_fold_total_bytes", b.MaxFoldTotalBytes},
		{"max_node_visits", b.MaxNodeVisits}, {"max_nodes", b.MaxNodes}, {"max_dense_bytes", b.MaxDenseBytes},
	} {
		if f.v < 0 {
			return bad(f.flag, "must not be negative, got %d", f.v)
		}
	}
	// More would be ignored: the loader refuses more nodes before parsing.
	if b.MaxNodes > model.DefaultMaxNodes {
		return bad("max_nodes", "must be at most %d, got %d", model.DefaultMaxNodes, b.MaxNodes)
	}
	return nil
}

func orDefault(v, def int64) int64 {
	if v > 0 {
		return v
	}
	return def
}

// WithDefaults returns b with every zero budget replaced by its default.
func (b Budgets) WithDefaults() Budgets {
	return Budgets{
		MaxFoldBytes:      orDefault(b.MaxFoldBytes, eval.DefaultMaxBytes),
		MaxFoldTotalBytes: orDefault(b.MaxFoldTotalBytes, optimize.DefaultMaxFoldTotalBytes),
		MaxNodeVisits:     orDefault(b.MaxNodeVisits, infer.DefaultMaxNodeVisits),
		MaxNodes:          min(orDefault(b.MaxNodes, model.DefaultMaxNodes), model.DefaultMaxNodes),
		MaxDenseBytes:     orDefault(b.MaxDenseBytes, eval.DefaultMaxBytes),
	}
}

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
