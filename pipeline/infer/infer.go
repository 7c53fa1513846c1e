// Package infer is quantprep's shape and type inference engine: one engine with
// two modes, symbolic (step 1 of the pipeline) and ONNX (step 3).
package infer

import (
	"context"
	"fmt"

	"github.com/quantprep/quantprep/pipeline/model"
)

// Mode selects the inference semantics.
type Mode int

const (
	// Symbolic invents named dims where a size is unknown, propagates shape
	// values through shape arithmetic, and knows com.microsoft contrib ops.
	Symbolic Mode = iota
	// ONNX follows ONNX's standard operator semantics and never invents dims.
	ONNX
)

// Config mirrors the reference tool's options for shape inference.
type Config struct {
	Mode            Mode
	AutoMerge       bool
	IntMax          int64
	GuessOutputRank bool
	// Strict turns a conflict between an existing shape and an inferred one
	// into an error instead of a warning.
	Strict  bool
	Verbose int
}

// Result is what a run did.
type Result struct {
	// Inferred counts node outputs that got a type or shape they lacked.
	Inferred int
	Warnings []string
	Counts   map[string]int64
}

// Run infers types and shapes for every node output of m and records them in
// the graph's value_info, merged with what is already there.
func Run(ctx context.Context, m *model.Model, cfg Config) (*Result, error) {
	return nil, fmt.Errorf("%w: shape inference is not built yet", model.ErrUnsupported)
}
