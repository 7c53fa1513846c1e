package model

import "errors"

// The error categories of the pipeline, in one place: every step wraps one of
// these (errors.Is) where the cause is known, and the server maps each to a
// status code (server/errors.go); anything else is an internal error there.
// Option errors are pipeline.ErrInvalidOptions.
//
// Wording: each layer adds its own context once. The pipeline names the step
// ("optimize: ", "save: "); inside a step, errors name the pass, rule,
// subgraph, node and operator at fault, never the step again.
var (
	// ErrInvalid marks input that is not a valid model: bad bytes, a dangling
	// reference, an external data location that escapes the model's directory.
	// The server's INVALID_ARGUMENT.
	ErrInvalid = errors.New("invalid model")
	// ErrUnsupported marks a valid model that uses something quantprep does
	// not handle: an operator set newer than it knows, a sparse initializer
	// of an element type it cannot make dense. The server's
	// FAILED_PRECONDITION.
	ErrUnsupported = errors.New("unsupported")
	// ErrTooLarge marks an output that cannot be written as asked (a model over
	// 2 GB saved inline). The server's FAILED_PRECONDITION.
	ErrTooLarge = errors.New("model too large")
	// ErrOverBudget marks a model that asks for more work or memory than a
	// run's budgets allow (a function expanded exponentially, too many
	// nodes, a sparse initializer too large to make dense): the server's
	// RESOURCE_EXHAUSTED.
	ErrOverBudget = errors.New("over budget")
	// ErrInternal marks a bug: a panic, or a graph a pass left broken. The
	// server's INTERNAL.
	//
	// The panic policy: a panic is recovered where the code knows what it was
	// doing, and becomes an error wrapping ErrInternal that names it. Per
	// node, where the graph is not touched (a shape inference entry, a
	// constant-folding kernel), that error names the node and operator and
	// is that node's failure: a warning, the node's outputs stay unknown or
	// unfolded. Per rule and pass of the optimizer, which may have left the
	// graph half rewritten, it fails the run naming the pass, the rule and
	// the node and operator it was at. Anywhere else, the step's boundary
	// (pipeline.runStep) recovers it and fails the run naming the step. The
	// process always goes on.
	ErrInternal = errors.New("internal error")
)
