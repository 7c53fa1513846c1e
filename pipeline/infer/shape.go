// shape.go: operators whose output is a shape (Shape, Size), or their input
// with another shape and the same elements in the same order (Reshape,
// Flatten, Squeeze, Unsqueeze), with value propagation for shape arithmetic.

package infer

import (
	"fmt"

	"github.com/quantprep/quantprep/pipeline/sym"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

var shapeOps = concatOps(
	forms("Shape", inferShape, 1, 15),         // 15: start and end attributes
	forms("Reshape", inferReshape, 1, 5),      // 5: the shape is an input
	forms("Squeeze", inferSqueeze, 1, 13),     // 13: axes are an input
	forms("Unsqueeze", inferUnsqueeze, 1, 13), // 13: axes are an input
	[]Op{
		{Name: "Size", Since: 1, Rule: inferSize},
		{Name: "Flatten", Since: 1, Rule: inferFlatten},
	},
	// Versions where ONNX changed the schema and the row before still holds.
	same("Flatten", whyTypes, 9, 13),
	same("Flatten", whyNegAxes, 11),
	same("Flatten", whyNewTypes, 21, 23, 24, 25),
	same("Reshape", whyTypes, 13),
	same("Reshape", "allowzero: the rule reads it at every version (absent before 14: 0)", 14),
	same("Reshape", whyNewTypes, 19, 21, 23, 24, 25),
	same("Shape", whyTypes, 13),
	same("Shape", whyNewTypes, 19, 21, 23, 24, 25),
	same("Size", whyTypes, 13),
	same("Size", whyNewTypes, 19, 21, 23, 24, 25),
	same("Squeeze", whyNegAxes, 11),
	same("Squeeze", whyNewTypes, 21, 23, 24, 25),
	same("Unsqueeze", whyNegAxes, 11),
	same("Unsqueeze", whyNewTypes, 21, 23, 24, 25),
)

func inferShape(c *Context, form int64) error {
	sh, ok := c.Shape(0)
	if !ok {
		c.SetRank(0, tensor.Int64, 1)
		return nil
	}
	r := int64(len(sh))
	start, end := int64(0), r
	if form >= 15 {
		start = c.Attrs().Int("start", 0)
		end = c.Attrs().Int("end", r)
	}
	clamp := func(x int64) int64 {
		if x < 0 {
			x += r
		}
		return min(max(x, 0), r)
	}
	start, end = clamp(start), clamp(end)
	if end < start {
		end = start
	}
	vals := sh[start:end]
	c.SetTensor(0, tensor.Int64, ints(int64(len(vals))))
	c.SetValues(0, vals)
	return nil
}

func inferSize(c *Context) error {
	c.SetTensor(0, tensor.Int64, nil)
	if sh, ok := c.Shape(0); ok {
		c.SetValues(0, []sym.Dim{prod(sh)})
	}
	return nil
}

func inferReshape(c *Context, form int64) error {
	elem := c.Elem(0)
	target, ok := c.Values(1)
	if form < 5 {
		var s []int64
		s, ok = c.Attrs().Ints("shape")
		target = ints(s...)
	}
	if !ok {
		if n, ok := c.Shape(1); ok && len(n) == 1 {
			if r, ok := n[0].Value(); ok {
				if in, ok := c.Shape(0); ok && r == 1 {
					// Whatever the runtime shape, one dim holds every element.
					numel := sym.Int(1)
					for _, d := range in {
						numel = sym.Mul(numel, d)
					}
					c.SetTensor(0, elem, []sym.Dim{c.orNew(numel)})
					return nil
				}
				c.SetRank(0, elem, int(r))
				return nil
			}
		}
		c.SetElem(0, elem)
		return nil
	}
	in, inOK := c.Shape(0)
	allowZero := c.Attrs().Int("allowzero", 0) != 0
	out := make([]sym.Dim, len(target))
	neg := -1
	for i, d := range target {
		v, known := d.Value()
		switch {
		case known && v == -1:
			if neg >= 0 {
				return c.Failf("Reshape shape has two -1 dims")
			}
			neg = i
		case known && v == 0 && !allowZero:
			if !inOK || i >= len(in) {
				out[i] = c.NewDim()
				if inOK {
					return c.Failf("Reshape copies dim %d of a rank-%d input", i, len(in))
				}
			} else {
				out[i] = in[i]
			}
		case known && v < -1:
			return c.Failf("Reshape shape has dim %d", v)
		default:
			out[i] = c.orNew(d)
		}
	}
	if neg >= 0 {
		out[neg] = sym.Unknown()
		if inOK {
			// Dims that the input and the output share cancel before the
			// division: [1, 3, h, w] to [1, -1, 1, h, w] is 3 even when h and w
			// are expressions whose expanded product no monomial divides.
			rest := append([]sym.Dim(nil), in...)
			others := sym.Int(1)
			for i, d := range out {
				if i == neg {
					continue
				}
				if j := indexEqual(rest, d); j >= 0 && d.IsSymbolic() {
					rest = append(rest[:j], rest[j+1:]...)
					continue
				}
				others = sym.Mul(others, d)
			}
			total := prod(rest)
			if v, ok := others.Value(); ok && v == 0 {
				out[neg] = sym.Unknown()
			} else if q := sym.FloorDiv(total, others); !q.IsUnknown() && sym.Equal(sym.Mul(q, others), total) {
				out[neg] = q
			}
		}
		out[neg] = c.orNew(out[neg])
	}
	c.SetTensor(0, elem, out)
	if vals, ok := c.Values(0); ok {
		c.SetValues(0, vals)
	}
	return nil
}

// indexEqual returns the index of the first dim of ds equal to d, or -1.
func indexEqual(ds []sym.Dim, d sym.Dim) int {
	for i, x := range ds {
		if sym.Equal(x, d) {
			return i
		}
	}
	return -1
}

func inferFlatten(c *Context) error {
	sh, err := c.MustShape(0)
	if err != nil {
		c.SetRank(0, c.Elem(0), 2)
		return nil
	}
	axis := c.Attrs().Int("axis", 1)
	if axis < 0 {
		axis += int64(len(sh))
	}
	if axis < 0 || axis > int64(len(sh)) {
		return c.Failf("Flatten axis %d out of range for rank %d", axis, len(sh))
	}
	c.SetTensor(0, c.Elem(0), []sym.Dim{prod(sh[:axis]), prod(sh[axis:])})
	return nil
}

// axesArg reads axes from the attribute, or with fromInput from input.
func axesArg(c *Context, fromInput bool, input int) ([]int64, bool, error) {
	if !fromInput {
		a, ok := c.Attrs().Ints("axes")
		return a, ok, nil
	}
	if !c.HasInput(input) {
		return nil, false, nil
	}
	a, ok := c.Ints(input)
	if !ok {
		return nil, true, fmt.Errorf("axes are not constant")
	}
	return a, true, nil
}

func inferSqueeze(c *Context, form int64) error {
	elem := c.Elem(0)
	axes, has, err := axesArg(c, form >= 13, 1)
	// Empty axes (an empty attribute or tensor) are no axes: ONNX Runtime
	// squeezes every dim of size 1, where ONNX's own inference keeps them all.
	has = has && len(axes) > 0
	sh, ok := c.Shape(0)
	if err != nil || !ok {
		if n, ok2 := c.Shape(1); ok && ok2 && len(n) == 1 {
			// Runtime axes: the rank drops by their number, and when exactly
			// that many dims are 1 (every dim a value), those are the ones.
			if k, ok := n[0].Value(); ok && k > 0 && int(k) <= len(sh) {
				var rest []sym.Dim
				ones, values := 0, true
				for _, d := range sh {
					if v, ok := d.Value(); !ok {
						values = false
					} else if v == 1 {
						ones++
						continue
					}
					rest = append(rest, d)
				}
				if values && ones == int(k) {
					c.SetTensor(0, elem, append([]sym.Dim{}, rest...))
					return nil
				}
				c.SetRank(0, elem, len(sh)-int(k))
				return nil
			}
		}
		c.SetElem(0, elem)
		return nil
	}
	drop := make([]bool, len(sh))
	if has {
		for _, a := range axes {
			ax, err := tensor.NormAxis(a, len(sh))
			if err != nil {
				return err
			}
			if v, ok := sh[ax].Value(); ok && v != 1 {
				return c.Failf("Squeeze axis %d has dim %d", a, v)
			}
			drop[ax] = true
		}
	} else {
		for i, d := range sh {
			if d.IsKnown() {
				drop[i] = isOne(d)
			} else {
				return c.Failf("Squeeze without axes on a shape with dim %v that may be 1", d)
			}
		}
	}
	var out []sym.Dim
	for i, d := range sh {
		if !drop[i] {
			out = append(out, d)
		}
	}
	c.SetTensor(0, elem, out)
	if v, ok := c.Values(0); ok {
		c.SetValues(0, v)
	}
	return nil
}

func inferUnsqueeze(c *Context, form int64) error {
	elem := c.Elem(0)
	axes, has, err := axesArg(c, form >= 13, 1)
	sh, ok := c.Shape(0)
	if !ok || err != nil || !has {
		if ok && has {
			// The rank is known even when the axes are not.
			if n, ok := c.Shape(1); ok && len(n) == 1 {
				if k, ok := n[0].Value(); ok {
					c.SetRank(0, elem, len(sh)+int(k))
					return nil
				}
			}
		}
		c.SetElem(0, elem)
		return nil
	}
	r := len(sh) + len(axes)
	ins := make([]bool, r)
	for _, a := range axes {
		ax, err := tensor.NormAxis(a, r)
		if err != nil {
			return err
		}
		if ins[ax] {
			return c.Failf("Unsqueeze axis %d repeated", a)
		}
		ins[ax] = true
	}
	out := make([]sym.Dim, r)
	j := 0
	for i := range out {
		if ins[i] {
			out[i] = sym.Int(1)
		} else {
			out[i] = sh[j]
			j++
		}
	}
	c.SetTensor(0, elem, out)
	if v, ok := c.Values(0); ok {
		c.SetValues(0, v)
	}
	return nil
}
