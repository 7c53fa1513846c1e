package eval

import (
	"fmt"
	"math"

	"github.com/quantprep/quantprep/pipeline/opset"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// generatorOps: operators whose output is made from a shape or a few scalars.
var generatorOps = opset.Join(
	[]Op{
		{Name: "ConstantOfShape", Since: 9, Rule: evalConstantOfShape},
		{Name: "Range", Since: 11, Rule: evalRange},
	},
	// Versions where ONNX changed the schema and the row before still holds.
	same("ConstantOfShape", whyNewTypes, 20, 21, 23, 24, 25),
	same("Range", whyLater, 27),
)

// maxGenerated bounds the elements a generator may make, so that a fold
// cannot blow a model up.
const maxGenerated = 1 << 26

func evalConstantOfShape(c *Ctx) ([]*tensor.Tensor, error) {
	if err := need(c, 1); err != nil {
		return nil, err
	}
	shape, err := ints(c.In[0])
	if err != nil {
		return nil, fmt.Errorf("shape: %w", err)
	}
	for _, d := range shape {
		if d < 0 {
			return nil, fmt.Errorf("negative dim in shape %v", shape)
		}
	}
	n := tensor.NumElements(shape)
	if err := c.room("generated result", n, 16); err != nil {
		return nil, err
	}
	value := tensor.FromFloat32s(nil, []float32{0})
	if tp := c.Attrs.Tensor("value"); tp != nil {
		if value, err = tensor.Decode(tp, nil); err != nil {
			return nil, err
		}
		if value.Len() != 1 {
			return nil, fmt.Errorf("value has %d elements, want 1", value.Len())
		}
	}
	return []*tensor.Tensor{pick(value, shape, make([]int64, n))}, nil
}

func evalRange(c *Ctx) ([]*tensor.Tensor, error) {
	if err := need(c, 3); err != nil {
		return nil, err
	}
	s, l, d := c.In[0], c.In[1], c.In[2]
	if s.DType != l.DType || s.DType != d.DType {
		return nil, fmt.Errorf("input types differ")
	}
	if s.Len() != 1 || l.Len() != 1 || d.Len() != 1 {
		return nil, fmt.Errorf("start, limit and delta must be scalars")
	}
	if s.I64 != nil {
		start, limit, delta := s.I64[0], l.I64[0], d.I64[0]
		if delta == 0 {
			return nil, fmt.Errorf("delta 0")
		}
		n := rangeCount(start, limit, delta)
		if err := c.room("range", n, 8); err != nil {
			return nil, err
		}
		r := tensor.New(s.DType, []int64{n})
		for i := range r.I64 {
			r.I64[i] = start + int64(i)*delta
		}
		return []*tensor.Tensor{r}, nil
	}
	start, limit, delta := s.Float64At(0), l.Float64At(0), d.Float64At(0)
	if delta == 0 {
		return nil, fmt.Errorf("delta 0")
	}
	fn := math.Max(0, math.Ceil((limit-start)/delta))
	if !(fn <= maxGenerated) { // also NaN
		return nil, fmt.Errorf("%w: range of %v elements", ErrOverBudget, fn)
	}
	n := int64(fn)
	if err := c.room("range", n, 8); err != nil {
		return nil, err
	}
	r := tensor.New(s.DType, []int64{n})
	for i := int64(0); i < n; i++ {
		v := start + float64(i)*delta
		if r.F32 != nil {
			r.F32[i] = float32(v)
		} else {
			r.F64[i] = v
		}
	}
	return []*tensor.Tensor{r}, nil
}

// rangeCount is max(0, ceil((limit-start)/delta)) without overflow: the
// difference is taken in uint64, where it always fits. Counts over
// maxGenerated come back as -1.
func rangeCount(start, limit, delta int64) int64 {
	var diff, step uint64
	switch {
	case delta > 0 && limit > start:
		diff, step = uint64(limit)-uint64(start), uint64(delta)
	case delta < 0 && limit < start:
		diff, step = uint64(start)-uint64(limit), -uint64(delta)
	default:
		return 0
	}
	n := diff / step
	if diff%step != 0 {
		n++
	}
	if n > maxGenerated {
		return -1
	}
	return int64(n)
}
