// Package infer is quantprep's shape and type inference engine: one engine with
// two modes, symbolic (step 1 of the pipeline) and ONNX (step 3).
//
// The engine walks each graph in topological order and asks the registry entry
// of every node's operator (registry.go, one family per file) to compute its
// outputs' element types and shapes through a Context. Shapes are lists of
// sym.Dim; small integer tensors also carry their values, so that shape
// arithmetic (Shape, Gather, Concat, Reshape, ...) keeps symbolic dims.
//
// Adding an operator: one row in its family's table (elementwise.go, logic.go,
// shape.go, movement.go, ...; the same families as eval's), a rule row per
// opset version whose semantics change and an "unchanged since" marker
// (same) at every other version where ONNX changed the schema; and a golden
// case under testdata/<family>/ (a model in ONNX's text syntax and the
// expected types; go test -run TestGolden -update writes them, to be checked
// by hand). Operators knowingly not handled are listed in unsupported.go;
// TestCoverage checks the rows against ONNX's schema history
// (pipeline/opset/opsettest).
//
// Merging with what the model says already: the main graph's inputs and
// outputs are the user's contract; an output's declared type is merged with
// the inferred one dim by dim (a value beats a symbol and either beats an
// unknown dim). Every other existing type (value_info, subgraph inputs and
// outputs) is a hint (hints.go): an existing symbol gives way to what
// inference finds and, where inference knows nothing, stays on its tensor
// without being passed on; one symbol given to dims that inference finds to
// differ is reported (Counts["dropped_symbols"]), and dims defined inside
// If/Loop/Scan bodies never leave them as shared symbols. Where an existing
// type contradicts the inferred one (another element type, another rank, two
// different values for one dim), the existing information is kept for that
// part, the rest is still merged, and the conflict is a warning naming the
// tensor and the node that produces it (Result.Warnings, Counts["conflicts"]);
// Config.Strict makes it an error wrapping model.ErrInvalid instead.
//
// Dim names: only our own canonical expressions (sym.Dim.String) are read
// back as arithmetic; any other dim_param, such as an exporter's
// "Unsqueeze/decoder/rnn/Unsqueeze_output_0_dim_1", is one opaque symbol
// (sym.Reader).
//
// Ground truth: TestBackendNodeTests runs both modes on ONNX's backend test
// cases (Debian's libonnx-testdata) and keeps each case's verdict, with the
// reason for any case that is not exact, in testdata/nodetests.tsv.
package infer

import (
	"context"

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

// String names the mode.
func (m Mode) String() string {
	if m == ONNX {
		return "onnx"
	}
	return "symbolic"
}

// DefaultIntMax is the reference tool's int_max: Slice ends at or above it mean
// "to the end".
const DefaultIntMax = 1<<31 - 1

// Config mirrors the reference tool's options for shape inference.
type Config struct {
	Mode Mode
	// AutoMerge lets broadcasting unify two different symbolic dims (the first
	// one wins, with a warning) instead of describing the result as their Max.
	AutoMerge bool
	// IntMax: Slice ends at or above it mean "to the end". 0 means DefaultIntMax.
	IntMax int64
	// GuessOutputRank gives the outputs of operators without shape inference
	// the element type and rank of their first input.
	GuessOutputRank bool
	// Strict turns a conflict between an existing shape and an inferred one
	// into an error instead of a warning.
	Strict  bool
	Verbose int
	// MaxNodeVisits bounds the nodes inferred in one run, counting every
	// node of a function body or subgraph each time it is expanded: a
	// function that calls another twice, 40 levels deep, would otherwise
	// run for ever. Over it, Run fails with an error wrapping
	// model.ErrOverBudget that names the function being expanded.
	// 0 means DefaultMaxNodeVisits or four times the model's nodes,
	// whichever is larger.
	MaxNodeVisits int64
}

// DefaultMaxNodeVisits is the least default of Config.MaxNodeVisits: a few
// seconds of inference, far more than a real model of this size takes (each
// node is visited about once).
const DefaultMaxNodeVisits = 1 << 20

// Result is what a run did.
type Result struct {
	// Inferred counts node outputs that got a type or shape they lacked.
	Inferred int
	// Warnings name the node or tensor concerned: operators that could not be
	// inferred and conflicts with existing shapes.
	Warnings []string
	// Counts: "nodes", "outputs", "inferred", "full_shape" (every dim a value
	// or a symbol), "conflicts", "failed" (nodes whose inference failed),
	// "unsupported" (nodes without an entry).
	Counts map[string]int64
	// Trace has one line per node output with its inferred type when
	// Config.Verbose is 3 or more.
	Trace []string
}

// Run infers types and shapes for every node output of m and records them in
// the graph's value_info, merged with what is already there. It changes m in
// place. It fails only when ctx ends, when the graph is not valid (a cycle, an
// input nobody defines), or in Strict mode on a conflict.
func Run(ctx context.Context, m *model.Model, cfg Config) (*Result, error) {
	if cfg.IntMax <= 0 {
		cfg.IntMax = DefaultIntMax
	}
	e := newEngine(ctx, m, cfg)
	if cfg.Mode == ONNX {
		// ONNX mode knows no dim it cannot prove, so it cannot tell an
		// exporter's symbol given to dims that differ: a dry Symbolic run
		// finds those first (hints.go), and reports them.
		dry := newEngine(ctx, m, Config{Mode: Symbolic, IntMax: cfg.IntMax})
		dry.dry = true
		if err := dry.run(); err != nil {
			return nil, err
		}
		e.distrust, e.res.Warnings = dry.falseHints()
		for h, c := range dry.claims {
			if c.warned {
				e.claims[h] = &claim{warned: true, contract: c.contract}
				e.res.Counts["dropped_symbols"]++
			}
		}
	}
	if err := e.run(); err != nil {
		return nil, err
	}
	return e.res, nil
}
