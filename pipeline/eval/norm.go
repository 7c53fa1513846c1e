package eval

import (
	"fmt"
	"math"

	"github.com/quantprep/quantprep/pipeline/opset"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// normOps: normalizations on float tensors (NC... layout), computed directly
// from their definitions.
var normOps = opset.Join(
	[]Op{
		{Name: "BatchNormalization", Since: 9, Rule: evalBatchNorm},
		{Name: "LayerNormalization", Since: 17, Rule: evalLayerNorm},
	},
	// Versions where ONNX changed the schema and the row before still holds.
	same("BatchNormalization", "training_mode and the running statistics: the kernel refuses training_mode=1 and computes Y alone, as inference does", 14),
	same("BatchNormalization", whyTypes, 15),
)

func evalBatchNorm(c *Ctx) ([]*tensor.Tensor, error) {
	if err := need(c, 5); err != nil {
		return nil, err
	}
	if c.Attrs.Int("training_mode", 0) != 0 {
		return nil, unsupported("training mode")
	}
	x := c.In[0]
	if !x.DType.IsFloat() || len(x.Dims) < 2 {
		return nil, unsupported("BatchNormalization of %s%v", x.DType, x.Dims)
	}
	eps := float64(c.Attrs.Float("epsilon", 1e-5))
	ch := x.Dims[1]
	for i := 1; i < 5; i++ {
		if c.In[i].Len() != ch {
			return nil, fmt.Errorf("input %d has %d values for %d channels", i, c.In[i].Len(), ch)
		}
	}
	inner := tensor.NumElements(x.Dims[2:])
	out := make([]float64, x.Len())
	for i := range out {
		k := int(int64(i) / inner % ch)
		scale, b, mean, v := c.In[1].Float64At(k), c.In[2].Float64At(k), c.In[3].Float64At(k), c.In[4].Float64At(k)
		out[i] = (x.Float64At(i)-mean)/math.Sqrt(v+eps)*scale + b
	}
	return []*tensor.Tensor{tensor.FromFloat64s(x.DType, x.Dims, out)}, nil
}

func evalLayerNorm(c *Ctx) ([]*tensor.Tensor, error) {
	if err := need(c, 2); err != nil {
		return nil, err
	}
	x, scale, bias := c.In[0], c.In[1], c.Input(2)
	if c.NumOutputs > 1 || !x.DType.IsFloat() {
		return nil, unsupported("LayerNormalization with statistics outputs or of %s", x.DType)
	}
	axis := c.Attrs.Int("axis", -1)
	if axis < 0 {
		axis += int64(len(x.Dims))
	}
	if axis < 0 || axis >= int64(len(x.Dims)) {
		return nil, fmt.Errorf("axis %d out of range for rank %d", axis, len(x.Dims))
	}
	eps := float64(c.Attrs.Float("epsilon", 1e-5))
	norm := tensor.NumElements(x.Dims[axis:])
	if scale.Len() != norm && scale.Len() != 1 || bias != nil && bias.Len() != norm && bias.Len() != 1 {
		return nil, unsupported("LayerNormalization scale or bias that broadcast partially")
	}
	out := make([]float64, x.Len())
	for o := int64(0); o < x.Len()/max(norm, 1); o++ {
		mean, sq := 0.0, 0.0
		for i := int64(0); i < norm; i++ {
			mean += x.Float64At(int(o*norm + i))
		}
		mean /= float64(norm)
		for i := int64(0); i < norm; i++ {
			d := x.Float64At(int(o*norm+i)) - mean
			sq += d * d
		}
		inv := 1 / math.Sqrt(sq/float64(norm)+eps)
		for i := int64(0); i < norm; i++ {
			v := (x.Float64At(int(o*norm+i)) - mean) * inv * scale.Float64At(int(i%scale.Len()))
			if bias != nil {
				v += bias.Float64At(int(i % bias.Len()))
			}
			out[o*norm+i] = v
		}
	}
	return []*tensor.Tensor{tensor.FromFloat64s(x.DType, x.Dims, out)}, nil
}
