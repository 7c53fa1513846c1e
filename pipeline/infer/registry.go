package infer

import "github.com/quantprep/quantprep/pipeline/opset"

// Rule sets a node's outputs through the Context, including the values of
// small integer outputs (shape arithmetic) where it can.
type Rule = func(*Context) error

// Op is one row of the shape inference table: a rule from opset Since on, or
// an "unchanged since" marker (see pipeline/opset).
type Op = opset.Row[Rule]

// families lists every operator family's rows once; each lives in the file
// named after the family.
var families = [][]Op{
	elementwiseOps,
	shapeOps,
	movementOps,
	selectionOps,
	logicOps,
	reduceOps,
	matmulOps,
	convPoolOps,
	normOps,
	rnnOps,
	controlFlowOps,
	quantizeOps,
	sequenceOps,
	generatorOps,
	imageOps,
	lossOps,
	trainingOps,
	mlOps,
	msOps,
}

// registry is built in init because rules reach it through subgraphs.
var registry *opset.Registry[Rule]

func init() { registry = opset.MustNew(families...) }

// forms returns one rule row per version of since, each running f with the
// row's version as form (see opset.Forms).
func forms(name string, f func(c *Context, form int64) error, since ...int64) []Op {
	return opset.Forms("", name, func(v int64) Rule { return func(c *Context) error { return f(c, v) } }, since...)
}

// same returns "unchanged since" markers: ONNX changed name's schema at each
// version of since, and the rule of the row before holds, for reason.
func same(name, reason string, since ...int64) []Op {
	return opset.Same[Rule]("", name, reason, since...)
}

// The reasons of the "unchanged since" markers that many operators share; a
// marker for one operator's change says it in its own words.
const (
	whyTypes           = "element types only: the rule does not depend on them"
	whyNewTypes        = "new element types only (float8 and others at 19 and 20, int4 at 21, bfloat16 at 22, float4 at 23, float8e8m0 at 24, int2 at 25): the rule does not depend on them"
	whyDoc             = "its text only: the same attributes, inputs, outputs and types"
	whyNegAxes         = "negative axes allowed: the rule normalizes axes at every version"
	whyConsumed        = "consumed_inputs (a legacy hint) removed: it never changed the outputs"
	whyLegacyBroadcast = "axis and broadcast gave way to numpy broadcasting: on an older node numpy broadcasting fails (the shape stays unknown) or yields input A's shape, the legacy result"
	whyBroadcast       = "inputs may broadcast: the rule broadcasts at every version, and older nodes have inputs of one shape"
	whyIsTest          = "is_test removed: it did not change the outputs' shapes"
	whyOutputSequence  = "output_sequence removed: Y is optional at every version and typed when declared"
	whyLayout          = "layout: the rule reads it at every version (absent before 14: 0)"
	whyReduction       = "reduction changes values, not the shape"
	whyLater           = "a version after ONNX 1.12 (from the hand-written table): its change, by ONNX's notes, does not touch the output's shape"
)
