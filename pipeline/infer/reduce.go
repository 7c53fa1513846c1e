// reduce.go: reductions over axes (Reduce*, ArgMax/ArgMin).

package infer

import (
	"github.com/quantprep/quantprep/pipeline/sym"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

var reduceOps = concatOps(
	// axes attribute up to opset 17 (ReduceSum: 12), axes input after.
	each("", 1, inferReduce(false), "ReduceMax", "ReduceMin", "ReduceMean", "ReduceProd",
		"ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"),
	each("", 18, inferReduce(true), "ReduceMax", "ReduceMin", "ReduceMean", "ReduceProd",
		"ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"),
	[]Op{
		{Name: "ReduceSum", Since: 1, Rule: inferReduce(false)},
		{Name: "ReduceSum", Since: 13, Rule: inferReduce(true)},
		{Name: "ArgMax", Since: 1, Rule: inferArg},
		{Name: "ArgMin", Since: 1, Rule: inferArg},
	},
	// Versions where ONNX changed the schema and the row before still holds.
	same("ArgMax", whyNegAxes, 11),
	same("ArgMax", "select_last_index picks among ties: the output shape is the same", 12),
	same("ArgMax", whyTypes, 13),
	same("ArgMin", whyNegAxes, 11),
	same("ArgMin", "select_last_index picks among ties: the output shape is the same", 12),
	same("ArgMin", whyTypes, 13),
	same("ReduceL1", whyNegAxes, 11),
	same("ReduceL1", whyTypes, 13),
	same("ReduceL2", whyNegAxes, 11),
	same("ReduceL2", whyTypes, 13),
	same("ReduceLogSum", whyNegAxes, 11),
	same("ReduceLogSum", whyTypes, 13),
	same("ReduceLogSumExp", whyNegAxes, 11),
	same("ReduceLogSumExp", whyTypes, 13),
	same("ReduceMax", whyNegAxes, 11),
	same("ReduceMax", whyTypes, 12, 13),
	same("ReduceMax", whyNewTypes, 20),
	same("ReduceMean", whyNegAxes, 11),
	same("ReduceMean", whyTypes, 13),
	same("ReduceMin", whyNegAxes, 11),
	same("ReduceMin", whyTypes, 12, 13),
	same("ReduceMin", whyNewTypes, 20),
	same("ReduceProd", whyNegAxes, 11),
	same("ReduceProd", whyTypes, 13),
	same("ReduceSum", whyNegAxes, 11),
	same("ReduceSumSquare", whyNegAxes, 11),
	same("ReduceSumSquare", whyTypes, 13),
)

func inferReduce(axesInput bool) func(*Context) error {
	return func(c *Context) error {
		elem := c.Elem(0)
		sh, ok := c.Shape(0)
		if !ok {
			c.SetElem(0, elem)
			return nil
		}
		keep := c.Attrs().Int("keepdims", 1) != 0
		axes, has, err := axesArg(c, axesInput, 1)
		if n, ok := c.Shape(1); err != nil && ok && len(n) == 1 && n[0].IsKnown() {
			if k, _ := n[0].Value(); k == 0 {
				// Runtime axes declared empty: their values do not matter.
				axes, has, err = nil, false, nil
			}
		}
		if err != nil {
			switch n, ok := c.Shape(1); {
			case keep:
				c.SetRank(0, elem, len(sh))
			case ok && len(n) == 1 && n[0].IsKnown():
				// Runtime axes: the rank drops by their number.
				k, _ := n[0].Value()
				if k > 0 && int(k) <= len(sh) {
					c.SetRank(0, elem, len(sh)-int(k))
					break
				}
				c.SetElem(0, elem)
			default:
				c.SetElem(0, elem)
			}
			return nil
		}
		if !has || len(axes) == 0 {
			if axesInput && c.Attrs().Int("noop_with_empty_axes", 0) != 0 {
				c.SetTensor(0, elem, sh)
				return nil
			}
			axes = make([]int64, len(sh))
			for i := range axes {
				axes[i] = int64(i)
			}
		}
		red := make([]bool, len(sh))
		for _, a := range axes {
			ax, err := tensor.NormAxis(a, len(sh))
			if err != nil {
				return err
			}
			red[ax] = true
		}
		var out []sym.Dim
		for i, d := range sh {
			switch {
			case !red[i]:
				out = append(out, d)
			case keep:
				out = append(out, sym.Int(1))
			}
		}
		if out == nil {
			out = []sym.Dim{}
		}
		c.SetTensor(0, elem, out)
		// Shape arithmetic: the product or sum of a shape's dims.
		if v, ok := c.Values(0); ok && len(sh) == 1 && red[0] {
			op := c.OpType()
			switch op {
			case "ReduceProd", "ReduceSum":
				acc := sym.Int(0)
				if op == "ReduceProd" {
					acc = sym.Int(1)
				}
				for _, d := range v {
					if op == "ReduceProd" {
						acc = sym.Mul(acc, d)
					} else {
						acc = sym.Add(acc, d)
					}
				}
				c.SetValues(0, []sym.Dim{acc})
			case "ReduceMax", "ReduceMin":
				if len(v) == 0 {
					break
				}
				acc := v[0]
				for _, d := range v[1:] {
					if op == "ReduceMax" {
						acc = sym.Max(acc, d)
					} else {
						acc = sym.Min(acc, d)
					}
				}
				c.SetValues(0, []sym.Dim{acc})
			}
		}
		return nil
	}
}

func inferArg(c *Context) error {
	sh, ok := c.Shape(0)
	if !ok {
		c.SetElem(0, tensor.Int64)
		return nil
	}
	ax, err := tensor.NormAxis(c.Attrs().Int("axis", 0), len(sh))
	if err != nil {
		return err
	}
	if c.Attrs().Int("keepdims", 1) != 0 {
		sh[ax] = sym.Int(1)
	} else {
		sh = append(sh[:ax], sh[ax+1:]...)
	}
	c.SetTensor(0, tensor.Int64, sh)
	return nil
}
