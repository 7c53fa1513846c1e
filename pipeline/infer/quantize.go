// quantize.go: quantization operators (QuantizeLinear and friends).

package infer

import (
	"github.com/quantprep/quantprep/pipeline/sym"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

var quantizeOps = concatOps(
	// 19: the output takes the scale's type; 23: output_dtype overrides it.
	forms("DequantizeLinear", inferDequantize, 10, 19, 23),
	[]Op{
		{Name: "QuantizeLinear", Since: 10, Rule: inferQuantize},
		{Name: "DynamicQuantizeLinear", Since: 11, Rule: inferDynamicQuantize},
	},
	// Versions where ONNX changed the schema and the row before still holds.
	same("DequantizeLinear", "axis selects per-axis scales: the output has x's shape", 13),
	same("DequantizeLinear", "block_size selects blocked scales: the output has x's shape", 21),
	same("DequantizeLinear", whyNewTypes, 24, 25),
	same("QuantizeLinear", "axis selects per-axis scales: y has x's shape", 13),
	same("QuantizeLinear", "saturate and float8 outputs: the rule takes the zero point's type at every version", 19),
	same("QuantizeLinear", "block_size and output_dtype: the rule reads output_dtype at every version", 21),
	same("QuantizeLinear", whyNewTypes, 23, 24, 25),
)

func inferQuantize(c *Context) error {
	t := c.Type(0)
	t.Elem = tensor.Uint8
	if c.HasInput(2) && c.Elem(2) != 0 {
		t.Elem = c.Elem(2)
	} else if c.Attrs().Has("output_dtype") && c.Attrs().Int("output_dtype", 0) != 0 {
		t.Elem = tensor.DType(c.Attrs().Int("output_dtype", 0))
	}
	c.SetType(0, t)
	return nil
}

func inferDequantize(c *Context, form int64) error {
	t := c.Type(0)
	t.Elem = tensor.Float
	if form >= 19 && c.Elem(1) != 0 {
		t.Elem = c.Elem(1)
	}
	if form >= 23 && c.Attrs().Int("output_dtype", 0) != 0 {
		// Opset 23: output_dtype, when given, overrides the scale's type.
		t.Elem = tensor.DType(c.Attrs().Int("output_dtype", 0))
	}
	c.SetType(0, t)
	return nil
}

func inferDynamicQuantize(c *Context) error {
	t := c.Type(0)
	t.Elem = tensor.Uint8
	c.SetType(0, t)
	c.SetTensor(1, tensor.Float, []sym.Dim{})
	c.SetTensor(2, tensor.Uint8, []sym.Dim{})
	return nil
}
