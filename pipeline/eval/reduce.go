package eval

import (
	"fmt"
	"math"

	"github.com/quantprep/quantprep/pipeline/opset"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// reduceOps: reductions over axes, accumulated in float64 for floats. The
// axes are an attribute until the opset given, an optional input from it on.
var reduceOps = opset.Join(
	[]Op{
		// axes attribute up to opset 17 (ReduceSum: 12), axes input after.
		{Name: "ReduceMean", Since: 1, Rule: reduce(false, "mean")},
		{Name: "ReduceMean", Since: 18, Rule: reduce(true, "mean")},
		{Name: "ReduceSum", Since: 1, Rule: reduce(false, "sum")},
		{Name: "ReduceSum", Since: 13, Rule: reduce(true, "sum")},
		{Name: "ReduceMax", Since: 1, Rule: reduce(false, "max")},
		{Name: "ReduceMax", Since: 18, Rule: reduce(true, "max")},
		{Name: "ReduceMin", Since: 1, Rule: reduce(false, "min")},
		{Name: "ReduceMin", Since: 18, Rule: reduce(true, "min")},
		{Name: "ReduceProd", Since: 1, Rule: reduce(false, "prod")},
		{Name: "ReduceProd", Since: 18, Rule: reduce(true, "prod")},
	},
	// Versions where ONNX changed the schema and the row before still holds.
	same("ReduceMax", whyNegAxes, 11),
	same("ReduceMax", whyTypes, 12, 13),
	same("ReduceMax", "bool inputs: the kernel reduces them by value", 20),
	same("ReduceMean", whyNegAxes, 11),
	same("ReduceMean", whyTypes, 13),
	same("ReduceMin", whyNegAxes, 11),
	same("ReduceMin", whyTypes, 12, 13),
	same("ReduceMin", "bool inputs: the kernel reduces them by value", 20),
	same("ReduceProd", whyNegAxes, 11),
	same("ReduceProd", whyTypes, 13),
	same("ReduceSum", whyNegAxes, 11),
)

func reduce(axesInput bool, kind string) Kernel {
	return func(c *Ctx) ([]*tensor.Tensor, error) {
		if err := need(c, 1); err != nil {
			return nil, err
		}
		x := c.In[0]
		if x.Str != nil || x.DType == tensor.String {
			return nil, unsupported("reduction of strings")
		}
		var axes []int64
		if axesInput {
			if t := c.Input(1); t != nil {
				var err error
				if axes, err = ints(t); err != nil {
					return nil, err
				}
			}
		} else {
			axes, _ = c.Attrs.Ints("axes")
		}
		rank := len(x.Dims)
		red := make([]bool, rank)
		if len(axes) == 0 {
			if c.Attrs.Int("noop_with_empty_axes", 0) != 0 {
				return []*tensor.Tensor{reshaped(x, x.Dims)}, nil
			}
			for i := range red {
				red[i] = true
			}
		}
		for _, a := range axes {
			ax, err := tensor.NormAxis(a, rank)
			if err != nil {
				return nil, err
			}
			red[ax] = true
		}
		keep := c.Attrs.Int("keepdims", 1) != 0
		var dims, kdims []int64
		for i, d := range x.Dims {
			if red[i] {
				kdims = append(kdims, 1)
				if keep {
					dims = append(dims, 1)
				}
			} else {
				kdims = append(kdims, d)
				dims = append(dims, d)
			}
		}
		n := tensor.NumElements(kdims)
		// An empty input can have a huge reduced shape ([0, 2^40] over axis 0).
		if err := c.room("reduced result", n, 32); err != nil {
			return nil, err
		}
		acc := make([]float64, n)
		iacc := make([]int64, n)
		count := make([]int64, n)
		ost := strides(kdims)
		i := 0
		forEachIndex(x.Dims, func(ix []int64) {
			o := int64(0)
			for a, v := range ix {
				if !red[a] {
					o += v * ost[a]
				}
			}
			f := x.Float64At(i)
			var iv int64
			if x.I64 != nil {
				iv = x.I64[i]
			}
			first := count[o] == 0
			switch kind {
			case "sum", "mean":
				acc[o] += f
				iacc[o] += iv
			case "prod":
				if first {
					acc[o], iacc[o] = 1, 1
				}
				acc[o] *= f
				iacc[o] *= iv
			case "max":
				if first || f > acc[o] || math.IsNaN(f) {
					acc[o], iacc[o] = f, iv
				}
			case "min":
				if first || f < acc[o] || math.IsNaN(f) {
					acc[o], iacc[o] = f, iv
				}
			}
			count[o]++
			i++
		})
		r := tensor.New(x.DType, dims)
		for o := int64(0); o < n; o++ {
			if count[o] == 0 && (kind == "max" || kind == "min" || kind == "mean") {
				return nil, fmt.Errorf("%s of an empty set", kind)
			}
			if kind == "prod" && count[o] == 0 {
				acc[o], iacc[o] = 1, 1
			}
			v := acc[o]
			if kind == "mean" {
				v /= float64(count[o])
			}
			switch {
			case r.F32 != nil:
				r.F32[o] = float32(v)
			case r.F64 != nil:
				r.F64[o] = v
			default:
				iv := iacc[o]
				if kind == "mean" {
					iv /= count[o]
				}
				r.I64[o] = wrapInt(x.DType, iv)
			}
		}
		return []*tensor.Tensor{r}, nil
	}
}
