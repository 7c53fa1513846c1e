package eval

import (
	"fmt"

	"github.com/quantprep/quantprep/pipeline/opset"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// shapeOps: operators whose output is a shape, or their input with another
// shape and the same elements in the same order.
var shapeOps = opset.Join(
	forms("Squeeze", evalSqueeze, 1, 13),     // 13: axes are an input
	forms("Unsqueeze", evalUnsqueeze, 1, 13), // 13: axes are an input
	[]Op{
		{Name: "Shape", Since: 1, Rule: evalShape},
		{Name: "Size", Since: 1, Rule: evalSize},
		{Name: "Reshape", Since: 5, Rule: evalReshape},
		{Name: "Flatten", Since: 1, Rule: evalFlatten},
	},
	// Versions where ONNX changed the schema and the row before still holds.
	same("Flatten", whyTypes, 9, 13),
	same("Flatten", whyNegAxes, 11),
	same("Flatten", whyNewTypes, 21, 23, 24, 25),
	same("Reshape", whyTypes, 13),
	same("Reshape", "allowzero: the kernel reads it at every version (absent before 14: 0)", 14),
	same("Reshape", whyNewTypes, 19, 21, 23, 24, 25),
	same("Shape", whyTypes, 13),
	same("Shape", "start and end: the kernel reads them at every version (absent before 15: all dims)", 15),
	same("Shape", whyNewTypes, 19, 21, 23, 24, 25),
	same("Size", whyTypes, 13),
	same("Size", whyNewTypes, 19, 21, 23, 24, 25),
	same("Squeeze", whyNegAxes, 11),
	same("Squeeze", whyNewTypes, 21, 23, 24, 25),
	same("Unsqueeze", whyNegAxes, 11),
	same("Unsqueeze", whyNewTypes, 21, 23, 24, 25),
)

// reshaped returns x's values with new dims.
func reshaped(x *tensor.Tensor, dims []int64) *tensor.Tensor {
	r := *x
	r.Dims = append([]int64{}, dims...)
	return &r
}

func evalShape(c *Ctx) ([]*tensor.Tensor, error) {
	if err := need(c, 1); err != nil {
		return nil, err
	}
	dims := c.In[0].Dims
	rank := int64(len(dims))
	clamp := func(v int64) int64 {
		if v < 0 {
			v += rank
		}
		return min(max(v, 0), rank)
	}
	start, end := clamp(c.Attrs.Int("start", 0)), clamp(c.Attrs.Int("end", rank))
	end = max(end, start)
	v := append([]int64{}, dims[start:end]...)
	return []*tensor.Tensor{tensor.FromInt64s([]int64{int64(len(v))}, v)}, nil
}

func evalSize(c *Ctx) ([]*tensor.Tensor, error) {
	if err := need(c, 1); err != nil {
		return nil, err
	}
	return []*tensor.Tensor{tensor.FromInt64s(nil, []int64{c.In[0].Len()})}, nil
}

func evalReshape(c *Ctx) ([]*tensor.Tensor, error) {
	if err := need(c, 2); err != nil {
		return nil, err
	}
	x := c.In[0]
	shape, err := ints(c.In[1])
	if err != nil {
		return nil, fmt.Errorf("shape: %w", err)
	}
	allowZero := c.Attrs.Int("allowzero", 0) != 0
	dims := make([]int64, len(shape))
	infer := -1
	known := int64(1)
	for i, d := range shape {
		switch {
		case d == 0 && !allowZero:
			if i >= len(x.Dims) {
				return nil, fmt.Errorf("shape %v copies dim %d of a rank-%d input", shape, i, len(x.Dims))
			}
			dims[i] = x.Dims[i]
		case d == -1:
			if infer >= 0 {
				return nil, fmt.Errorf("shape %v has two -1 dims", shape)
			}
			infer = i
			continue
		case d < -1:
			return nil, fmt.Errorf("shape %v has a negative dim", shape)
		default:
			dims[i] = d
		}
		known *= dims[i]
	}
	if infer >= 0 {
		if known == 0 || x.Len()%known != 0 {
			return nil, fmt.Errorf("cannot reshape %v to %v", x.Dims, shape)
		}
		dims[infer] = x.Len() / known
	}
	if tensor.NumElements(dims) != x.Len() {
		return nil, fmt.Errorf("cannot reshape %v to %v", x.Dims, shape)
	}
	return []*tensor.Tensor{reshaped(x, dims)}, nil
}

func evalFlatten(c *Ctx) ([]*tensor.Tensor, error) {
	if err := need(c, 1); err != nil {
		return nil, err
	}
	x := c.In[0]
	axis := c.Attrs.Int("axis", 1)
	if axis < 0 {
		axis += int64(len(x.Dims))
	}
	if axis < 0 || axis > int64(len(x.Dims)) {
		return nil, fmt.Errorf("axis %d out of range for rank %d", axis, len(x.Dims))
	}
	outer := tensor.NumElements(x.Dims[:axis])
	return []*tensor.Tensor{reshaped(x, []int64{outer, x.Len() / max(outer, 1)})}, nil
}

// axesOf reads the axes of Squeeze/Unsqueeze: an attribute before opset 13,
// the optional second input from 13 on.
func axesOf(c *Ctx, form int64) ([]int64, bool, error) {
	if form >= 13 {
		if t := c.Input(1); t != nil {
			v, err := ints(t)
			return v, true, err
		}
		return nil, false, nil
	}
	v, ok := c.Attrs.Ints("axes")
	return v, ok, nil
}

func evalUnsqueeze(c *Ctx, form int64) ([]*tensor.Tensor, error) {
	if err := need(c, 1); err != nil {
		return nil, err
	}
	x := c.In[0]
	axes, ok, err := axesOf(c, form)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("axes missing")
	}
	rank := len(x.Dims) + len(axes)
	ins := make([]bool, rank)
	for _, a := range axes {
		ax, err := tensor.NormAxis(a, rank)
		if err != nil {
			return nil, err
		}
		if ins[ax] {
			return nil, fmt.Errorf("axis %d repeated", a)
		}
		ins[ax] = true
	}
	dims := make([]int64, 0, rank)
	j := 0
	for i := 0; i < rank; i++ {
		if ins[i] {
			dims = append(dims, 1)
		} else {
			dims = append(dims, x.Dims[j])
			j++
		}
	}
	return []*tensor.Tensor{reshaped(x, dims)}, nil
}

func evalSqueeze(c *Ctx, form int64) ([]*tensor.Tensor, error) {
	if err := need(c, 1); err != nil {
		return nil, err
	}
	x := c.In[0]
	axes, ok, err := axesOf(c, form)
	if err != nil {
		return nil, err
	}
	// Empty axes are no axes: ONNX Runtime squeezes every dim of size 1.
	ok = ok && len(axes) > 0
	drop := make([]bool, len(x.Dims))
	if !ok {
		for i, d := range x.Dims {
			drop[i] = d == 1
		}
	}
	for _, a := range axes {
		ax, err := tensor.NormAxis(a, len(x.Dims))
		if err != nil {
			return nil, err
		}
		if x.Dims[ax] != 1 {
			return nil, fmt.Errorf("cannot squeeze axis %d of size %d", a, x.Dims[ax])
		}
		drop[ax] = true
	}
	dims := []int64{}
	for i, d := range x.Dims {
		if !drop[i] {
			dims = append(dims, d)
		}
	}
	return []*tensor.Tensor{reshaped(x, dims)}, nil
}
