// loss.go: loss functions.

package infer

var lossOps = concatOps(
	[]Op{
		{Name: "SoftmaxCrossEntropyLoss", Since: 12, Rule: inferLoss},
		{Name: "NegativeLogLikelihoodLoss", Since: 12, Rule: inferLoss},
	},
	// Versions where ONNX changed the schema and the row before still holds.
	same("NegativeLogLikelihoodLoss", whyDoc, 13),
	same("NegativeLogLikelihoodLoss", whyNewTypes, 22),
	same("SoftmaxCrossEntropyLoss", whyTypes, 13),
)

// inferLoss: with reduction "none" the loss has the target's shape, otherwise
// it is a scalar; SoftmaxCrossEntropyLoss's log_prob output is like scores.
func inferLoss(c *Context) error {
	if c.Attrs().String("reduction", "mean") == "none" {
		if sh, ok := c.Shape(1); ok {
			c.SetTensor(0, c.Elem(0), sh)
		} else {
			c.SetElem(0, c.Elem(0))
		}
	} else {
		c.SetTensor(0, c.Elem(0), nil)
	}
	if c.HasOutput(1) {
		c.SetType(1, c.Type(0))
	}
	return nil
}
