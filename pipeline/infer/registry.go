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

// same returns "unchanged since" markers: ONNX changed name's schema at each
// version of since, and the rule of the row before holds, for reason.
func same(name, reason string, since ...int64) []Op {
	return opset.Same[Rule]("", name, reason, since...)
}
