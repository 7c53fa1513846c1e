// Package optimize rewrites a model's graph as ONNX Runtime's basic optimization
// level does: constant folding, redundant node elimination and fusions.
package optimize

import (
	"context"
	"fmt"

	"github.com/quantprep/quantprep/pipeline/model"
)

// Config selects passes.
type Config struct {
	// Disabled names passes or rules not to run.
	Disabled []string
	Verbose  int
}

// Result is what a run did.
type Result struct {
	// Rewrites counts the rewrites of each pass or rule, by name.
	Rewrites map[string]int64
	Warnings []string
}

// Run optimizes m in place.
func Run(ctx context.Context, m *model.Model, cfg Config) (*Result, error) {
	return nil, fmt.Errorf("%w: graph optimization is not built yet", model.ErrUnsupported)
}
