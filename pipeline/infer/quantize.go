// quantize.go: quantization operators (QuantizeLinear and friends).

package infer

import (
	"github.com/quantprep/quantprep/pipeline/sym"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

var quantizeOps = []Op{
	{Name: "QuantizeLinear", Since: 10, Rule: inferQuantize},
	{Name: "DequantizeLinear", Since: 10, Rule: inferDequantize},
	{Name: "DynamicQuantizeLinear", Since: 11, Rule: inferDynamicQuantize},
}

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

func inferDequantize(c *Context) error {
	t := c.Type(0)
	t.Elem = tensor.Float
	if c.Opset() >= 19 && c.Elem(1) != 0 {
		t.Elem = c.Elem(1)
	}
	if c.Opset() >= 23 && c.Attrs().Int("output_dtype", 0) != 0 {
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
