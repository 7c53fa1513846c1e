package model

import (
	"context"
	"os"
)

// DiskBudget counts the bytes that a run writes to disk: the tensors it
// spills and the files it saves. Reserve is called before the bytes are
// written; when it fails, nothing is written and the failure is returned,
// wrapped. The server gives each request one, so that a model whose folded
// weights or external data would fill the disk fails early instead.
type DiskBudget interface {
	Reserve(n int64) error
}

type diskBudgetKey struct{}

// WithDiskBudget returns a context that carries b to the pipeline: Run gives
// it to the model it loads (SetDiskBudget).
func WithDiskBudget(ctx context.Context, b DiskBudget) context.Context {
	return context.WithValue(ctx, diskBudgetKey{}, b)
}

// DiskBudgetFrom returns the budget that ctx carries, or nil.
func DiskBudgetFrom(ctx context.Context) DiskBudget {
	b, _ := ctx.Value(diskBudgetKey{}).(DiskBudget)
	return b
}

// SetDiskBudget makes Spill and Save reserve their bytes from b first; nil
// means no budget.
func (m *Model) SetDiskBudget(b DiskBudget) { m.budget = b }

// reserve claims n bytes of the model's disk budget, if it has one.
func (m *Model) reserve(n int64) error {
	if m.budget == nil || n <= 0 {
		return nil
	}
	return m.budget.Reserve(n)
}

// syncFile is (*os.File).Sync; tests count its calls.
var syncFile = (*os.File).Sync
