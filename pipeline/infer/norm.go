// norm.go: normalizations (BatchNormalization, LayerNormalization, ...).

package infer

import (
	"github.com/quantprep/quantprep/pipeline/sym"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

var normOps = concatOps(
	[]Op{
		{Name: "BatchNormalization", Since: 1, Rule: inferBatchNorm},
		{Name: "InstanceNormalization", Since: 1, Rule: inferUnary},
		{Name: "GroupNormalization", Since: 18, Rule: inferUnary},
		{Name: "LayerNormalization", Since: 17, Rule: inferLayerNorm(tensor.Float)},
		{Name: "RMSNormalization", Since: 23, Rule: inferUnary},
	},
	// Versions where ONNX changed the schema and the row before still holds.
	same("BatchNormalization", whyConsumed, 6),
	same("BatchNormalization", whyIsTest, 7),
	same("BatchNormalization", "spatial removed: Y has X's shape either way", 9),
	same("BatchNormalization", "training_mode and the running statistics: the rule types every declared output at every version", 14),
	same("BatchNormalization", whyTypes, 15),
	same("GroupNormalization", "scale and bias per channel: the output has X's shape either way", 21),
	same("InstanceNormalization", whyConsumed, 6),
	same("InstanceNormalization", whyNewTypes, 22),
)

func inferBatchNorm(c *Context) error {
	c.SetType(0, c.Type(0))
	// Training-mode outputs: running mean and variance, shaped like scale.
	for i := 1; i < c.NumOutputs(); i++ {
		if c.HasOutput(i) {
			if sh, ok := c.Shape(1); ok {
				c.SetTensor(i, c.Elem(0), sh)
			} else {
				c.SetElem(i, c.Elem(0))
			}
		}
	}
	return nil
}

// inferLayerNorm: Y like X; Mean and InvStdDev keep X's leading axes and have
// 1 for the normalized ones. statElem is their type when stash_type is unset.
func inferLayerNorm(statElem tensor.DType) func(*Context) error {
	return func(c *Context) error {
		c.SetType(0, c.Type(0))
		sh, ok := c.Shape(0)
		st := statElem
		if c.Attrs().Has("stash_type") {
			st = tensor.DType(c.Attrs().Int("stash_type", 1))
		}
		if c.Domain() != "" {
			// Contrib LayerNormalization's statistics have U = float.
			st = tensor.Float
		}
		for i := 1; i < c.NumOutputs() && i < 3; i++ {
			if !c.HasOutput(i) {
				continue
			}
			if !ok {
				c.SetElem(i, st)
				continue
			}
			ax, err := tensor.NormAxis(c.Attrs().Int("axis", -1), len(sh))
			if err != nil {
				return err
			}
			out := append([]sym.Dim{}, sh...)
			for j := ax; j < len(out); j++ {
				out[j] = sym.Int(1)
			}
			c.SetTensor(i, st, out)
		}
		return nil
	}
}
