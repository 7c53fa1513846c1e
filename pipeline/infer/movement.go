// movement.go: operators that select, reorder or repeat their input's elements
// (concatenation, gathering, slicing, transposition, tiling, splitting,
// padding), with value propagation where the input is a shape.

package infer

import (
	"github.com/quantprep/quantprep/pipeline/sym"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

var movementOps = concatOps(
	forms("Concat", inferConcat, 1, 4),    // 4: axis has no default
	forms("Slice", inferSlice, 1, 10),     // 10: starts, ends, axes and steps are inputs
	forms("Split", inferSplit, 1, 13, 18), // 13: split is an input; 18: num_outputs, uneven chunks
	forms("Pad", inferPad, 1, 11, 18),     // 11: pads are an input; 18: axes input
	[]Op{
		{Name: "Gather", Since: 1, Rule: inferGather},
		{Name: "GatherElements", Since: 11, Rule: inferGatherElements},
		{Name: "GatherND", Since: 11, Rule: inferGatherND},
		{Name: "Transpose", Since: 1, Rule: inferTranspose},
		{Name: "Expand", Since: 8, Rule: inferExpand},
		{Name: "Tile", Since: 1, Rule: inferTile1}, // tiles and axis inputs
		{Name: "Tile", Since: 6, Rule: inferTile},
		{Name: "DepthToSpace", Since: 1, Rule: inferDepthSpace(false)},
		{Name: "SpaceToDepth", Since: 1, Rule: inferDepthSpace(true)},
	},
	// Versions where ONNX changed the schema and the row before still holds.
	same("Concat", whyNegAxes, 11),
	same("Concat", whyTypes, 13),
	same("DepthToSpace", "mode orders the elements, not the shape", 11),
	same("DepthToSpace", whyTypes, 13),
	same("Expand", whyTypes, 13),
	same("Gather", whyNegAxes, 11),
	same("Gather", whyTypes, 13),
	same("GatherElements", whyTypes, 13),
	same("GatherND", "batch_dims: the rule reads it at every version (absent before 12: 0)", 12),
	same("GatherND", whyTypes, 13),
	same("Pad", "paddings renamed pads: the rule reads either", 2),
	same("Pad", whyTypes, 13),
	same("Pad", "wrap mode changes values, not the shape", 19),
	same("Pad", whyNewTypes, 21, 23, 24, 25),
	same("Slice", whyNegAxes, 11),
	same("Slice", whyTypes, 13),
	same("SpaceToDepth", whyTypes, 13),
	same("Split", "the split input of Split-1 is gone: the rule reads the attribute, else input 1 (Split-1's form)", 2),
	same("Split", whyNegAxes, 11),
	same("Tile", whyTypes, 13),
	same("Transpose", whyTypes, 13),
	same("Transpose", whyNewTypes, 21, 23, 24, 25),
)

// concatShape is the shape of the Concat of shapes along the node's axis
// attribute (def when absent), and that axis normalized: the dims along the
// axis add up, the others must agree (an unknown one takes the other's).
func concatShape(c *Context, shapes [][]sym.Dim, def int64) ([]sym.Dim, int, error) {
	if len(shapes) == 0 {
		return nil, 0, c.Failf("no inputs to concatenate")
	}
	r := len(shapes[0])
	axis, err := tensor.NormAxis(c.Attrs().Int("axis", def), r)
	if err != nil {
		return nil, 0, err
	}
	out := append([]sym.Dim(nil), shapes[0]...)
	for _, sh := range shapes[1:] {
		if len(sh) != r {
			return nil, 0, c.Failf("inputs to concatenate have ranks %d and %d", r, len(sh))
		}
		for j := range sh {
			if j == axis {
				out[j] = sym.Add(out[j], sh[j])
				continue
			}
			m, ok := sym.Merge(out[j], sh[j])
			if !ok && out[j].IsKnown() && sh[j].IsKnown() {
				return nil, 0, c.Failf("inputs to concatenate differ in dim %d: %v and %v", j, out[j], sh[j])
			}
			out[j] = m
		}
	}
	for j := range out {
		out[j] = c.orNew(out[j])
	}
	return out, axis, nil
}

func inferConcat(c *Context, form int64) error {
	elem := firstElem(c)
	var shapes [][]sym.Dim
	for i := 0; i < c.NumInputs(); i++ {
		if !c.HasInput(i) {
			continue
		}
		sh, ok := c.Shape(i)
		if !ok {
			c.SetElem(0, elem)
			return nil
		}
		shapes = append(shapes, sh)
	}
	def := int64(0)
	if form < 4 {
		def = 1 // Concat-1's default axis
	}
	out, axis, err := concatShape(c, shapes, def)
	if err != nil {
		return err
	}
	r := len(out)
	c.SetTensor(0, elem, out)
	if r > 1 {
		concatValues(c, out, axis)
		return nil
	}
	if r == 1 {
		var vals []sym.Dim
		for i := 0; i < c.NumInputs(); i++ {
			if !c.HasInput(i) {
				continue
			}
			v, ok := c.Values(i)
			if !ok {
				// Keep the positions: unknown elements where the values are not tracked.
				sh, _ := c.Shape(i)
				n, known := sh[0].Value()
				if !known || n > maxValues {
					return nil
				}
				v = make([]sym.Dim, n)
				for k := range v {
					v[k] = sym.Unknown()
				}
			}
			vals = append(vals, v...)
		}
		c.SetValues(0, vals)
	}
	return nil
}

// concatValues joins the elements of inputs of any rank along axis.
func concatValues(c *Context, out []sym.Dim, axis int) {
	ost, ok := staticShape(out)
	if !ok || numel(ost) < 0 {
		return
	}
	var parts [][]sym.Dim
	var shapes [][]int64
	for i := 0; i < c.NumInputs(); i++ {
		if !c.HasInput(i) {
			continue
		}
		v, st, ok := c.valuesND(i)
		if !ok {
			return
		}
		parts, shapes = append(parts, v), append(shapes, st)
	}
	outer := 1
	for _, d := range ost[:axis] {
		outer *= int(d)
	}
	vals := make([]sym.Dim, 0, numel(ost))
	for o := 0; o < outer; o++ {
		for j, v := range parts {
			inner := numel(shapes[j][axis:])
			vals = append(vals, v[o*inner:(o+1)*inner]...)
		}
	}
	c.SetValues(0, vals)
}

func inferGather(c *Context) error {
	elem := c.Elem(0)
	data, ok1 := c.Shape(0)
	idx, ok2 := c.Shape(1)
	if !ok1 || !ok2 {
		c.SetElem(0, elem)
		return nil
	}
	axis, err := tensor.NormAxis(c.Attrs().Int("axis", 0), len(data))
	if err != nil {
		return err
	}
	out := append(append(append([]sym.Dim{}, data[:axis]...), idx...), data[axis+1:]...)
	c.SetTensor(0, elem, out)
	if len(data) > 1 {
		gatherValues(c, out, axis)
		return nil
	}
	if v, ok := c.Values(0); ok && len(data) == 1 {
		if ix, ok := c.Ints(1); ok && len(idx) <= 1 {
			n := int64(len(v))
			vals := make([]sym.Dim, len(ix))
			for i, k := range ix {
				if k < 0 {
					k += n
				}
				if k < 0 || k >= n {
					return c.Failf("Gather index %d out of range for %d elements", ix[i], n)
				}
				vals[i] = v[k]
			}
			c.SetValues(0, vals)
		}
	}
	return nil
}

// gatherValues is Gather on a tensor of rank 2 or more whose elements are
// tracked, with constant indices.
func gatherValues(c *Context, out []sym.Dim, axis int) {
	v, in, ok := c.valuesND(0)
	if !ok {
		return
	}
	ix, ok := c.Ints(1)
	ish, ok2 := c.Shape(1)
	ost, ok3 := staticShape(out)
	if !ok || !ok2 || !ok3 || numel(ost) < 0 {
		return
	}
	st := strides(in)
	r := len(ish)
	ist := make([]int64, len(ish))
	ist2, ok := staticShape(ish)
	if !ok {
		return
	}
	copy(ist, ist2)
	istr := strides(ist)
	pickValues(c, v, ost, func(idx []int64) (int, bool) {
		k := 0
		for a := 0; a < axis; a++ {
			k += int(idx[a]) * st[a]
		}
		q := 0
		for a := 0; a < r; a++ {
			q += int(idx[axis+a]) * istr[a]
		}
		j := ix[q]
		if j < 0 {
			j += in[axis]
		}
		if j < 0 || j >= in[axis] {
			return 0, false
		}
		k += int(j) * st[axis]
		for a := axis + 1; a < len(in); a++ {
			k += int(idx[a-1+r]) * st[a]
		}
		return k, true
	})
}

// pickValues sets the elements of output 0, of static shape out, each to the
// element of v at the flat index that at returns for its multi-index. An
// index out of range (at returns false) would fail at run time: then it sets
// none.
func pickValues(c *Context, v []sym.Dim, out []int64, at func(idx []int64) (int, bool)) {
	vals := make([]sym.Dim, 0, numel(out))
	bad := false
	forEachIndex(out, func(idx []int64) {
		if bad {
			return
		}
		k, ok := at(idx)
		if !ok {
			bad = true
			return
		}
		vals = append(vals, v[k])
	})
	if !bad {
		c.SetValues(0, vals)
	}
}

func inferGatherElements(c *Context) error {
	sh, ok := c.Shape(1)
	if !ok {
		c.SetElem(0, c.Elem(0))
		return nil
	}
	c.SetTensor(0, c.Elem(0), sh)
	return nil
}

func inferGatherND(c *Context) error {
	data, ok1 := c.Shape(0)
	idx, ok2 := c.Shape(1)
	if !ok1 || !ok2 || len(idx) == 0 {
		c.SetElem(0, c.Elem(0))
		return nil
	}
	b := int(c.Attrs().Int("batch_dims", 0))
	last, ok := idx[len(idx)-1].Value()
	if !ok {
		c.SetElem(0, c.Elem(0))
		return nil
	}
	if b+int(last) > len(data) {
		return c.Failf("GatherND index depth %d with %d batch dims exceeds rank %d", last, b, len(data))
	}
	out := append(append([]sym.Dim{}, idx[:len(idx)-1]...), data[b+int(last):]...)
	c.SetTensor(0, c.Elem(0), out)
	return nil
}

// sliceLen is the length of data[start:end:step] along a dim of size n, with
// ONNX's clamping; an end at or above int_max means "to the end". start and
// end may be symbolic when they are dims (never negative).
func sliceLen(c *Context, n, start, end sym.Dim, step int64) sym.Dim {
	if step == 0 {
		return sym.Unknown()
	}
	nv, nKnown := n.Value()
	sv, sKnown := start.Value()
	ev, eKnown := end.Value()
	if nKnown && sKnown && eKnown {
		clamp := func(x int64, lo, hi int64) int64 {
			if x < 0 {
				x += nv
			}
			return min(max(x, lo), hi)
		}
		if step > 0 {
			s, e := clamp(sv, 0, nv), clamp(ev, 0, nv)
			return sym.Int(max(0, ceilDiv(e-s, step)))
		}
		s, e := clamp(sv, -1, nv-1), clamp(ev, -1, nv-1)
		return sym.Int(max(0, ceilDiv(s-e, -step)))
	}
	if n.IsUnknown() {
		return sym.Unknown()
	}
	if step < 0 {
		if sKnown && eKnown && (sv >= c.IntMax() || sv == -1) && ev <= -c.IntMax() {
			return sym.CeilDiv(n, sym.Int(-step))
		}
		return sym.Unknown()
	}
	if sKnown && eKnown {
		return ceilLen(sliceLenInts(c, n, sv, ev), step)
	}
	// A symbolic start or end is a dim (never negative): clamp it to n.
	pos := func(x sym.Dim) sym.Dim {
		v, known := x.Value()
		switch {
		case !known && x.NonNegative():
			return sym.Min(x, n)
		case !known:
			return sym.Unknown()
		case v >= c.IntMax():
			return n
		case v <= -c.IntMax():
			return sym.Int(0)
		case v < 0:
			return sym.Max(sym.Int(0), sym.Add(n, sym.Int(v)))
		}
		return sym.Min(sym.Int(v), n)
	}
	return ceilLen(sym.Max(sym.Int(0), sym.Sub(pos(end), pos(start))), step)
}

// sliceLenInts is the length of [s:e] (step 1) along a symbolic dim n, in the
// simplest exact form for each case.
func sliceLenInts(c *Context, n sym.Dim, s, e int64) sym.Dim {
	max := c.IntMax()
	if s <= -max {
		s = 0
	}
	toEnd := e >= max
	switch {
	case s == 0 && toEnd:
		return n
	case s > 0 && toEnd:
		return sym.Max(sym.Int(0), sym.Sub(n, sym.Int(s)))
	case s < 0 && toEnd:
		return sym.Min(n, sym.Int(-s))
	case e <= -max:
		return sym.Int(0)
	case s == 0 && e >= 0:
		return sym.Min(sym.Int(e), n)
	case s == 0:
		return sym.Max(sym.Int(0), sym.Add(n, sym.Int(e)))
	case s > 0 && e >= 0:
		if e <= s {
			return sym.Int(0)
		}
		return sym.Max(sym.Int(0), sym.Sub(sym.Min(sym.Int(e), n), sym.Int(s)))
	case s < 0 && e < 0:
		if e <= s {
			return sym.Int(0)
		}
		return sym.Sub(sym.Min(n, sym.Int(-s)), sym.Min(n, sym.Int(-e)))
	}
	// Mixed signs: positions clamped exactly.
	ps := sym.Min(sym.Int(s), n)
	if s < 0 {
		ps = sym.Max(sym.Int(0), sym.Add(n, sym.Int(s)))
	}
	pe := sym.Min(sym.Int(e), n)
	if e < 0 {
		pe = sym.Max(sym.Int(0), sym.Add(n, sym.Int(e)))
	}
	return sym.Max(sym.Int(0), sym.Sub(pe, ps))
}

// ceilLen divides a slice's span by its step, rounding up.
func ceilLen(l sym.Dim, step int64) sym.Dim {
	if step == 1 {
		return l
	}
	return sym.CeilDiv(l, sym.Int(step))
}

func ceilDiv(a, b int64) int64 {
	return -floorDivInt(-a, b)
}

func floorDivInt(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func inferSlice(c *Context, form int64) error {
	elem := c.Elem(0)
	sh, ok := c.Shape(0)
	if !ok {
		c.SetElem(0, elem)
		return nil
	}
	var starts, ends []sym.Dim
	var axes, steps []int64
	if form < 10 {
		st, _ := c.Attrs().Ints("starts")
		en, _ := c.Attrs().Ints("ends")
		starts, ends = ints(st...), ints(en...)
		axes, _ = c.Attrs().Ints("axes")
	} else {
		var ok1, ok2 bool
		starts, ok1 = c.Values(1)
		ends, ok2 = c.Values(2)
		okA, okS := true, true
		if c.HasInput(3) {
			axes, okA = c.Ints(3)
		}
		if c.HasInput(4) {
			steps, okS = c.Ints(4)
		}
		if !ok1 || !ok2 || !okA || !okS {
			// The rank is kept; sliced axes are unknown.
			out := make([]sym.Dim, len(sh))
			for i := range out {
				out[i] = c.NewDim()
			}
			if okA && axes != nil {
				copy(out, sh)
				for _, a := range axes {
					if ax, err := tensor.NormAxis(a, len(sh)); err == nil {
						out[ax] = c.NewDim()
					}
				}
			}
			c.SetTensor(0, elem, out)
			return nil
		}
	}
	if len(starts) != len(ends) {
		return c.Failf("Slice has %d starts and %d ends", len(starts), len(ends))
	}
	if axes == nil {
		axes = make([]int64, len(starts))
		for i := range axes {
			axes[i] = int64(i)
		}
	}
	if steps == nil {
		steps = make([]int64, len(starts))
		for i := range steps {
			steps[i] = 1
		}
	}
	if len(axes) != len(starts) || len(steps) != len(starts) {
		return c.Failf("Slice starts, ends, axes and steps differ in length")
	}
	out := append([]sym.Dim{}, sh...)
	for i, a := range axes {
		ax, err := tensor.NormAxis(a, len(sh))
		if err != nil {
			return err
		}
		if steps[i] == 0 {
			return c.Failf("Slice step 0")
		}
		out[ax] = c.orNew(sliceLen(c, sh[ax], starts[i], ends[i], steps[i]))
	}
	c.SetTensor(0, elem, out)
	sliceValues(c, out, starts, ends, axes, steps)
	return nil
}

// sliceValues computes the elements of a Slice of a tensor whose elements
// are tracked, any rank, any steps (torch flips pads with step -1).
func sliceValues(c *Context, out, starts, ends []sym.Dim, axes, steps []int64) {
	v, in, ok := c.valuesND(0)
	if !ok {
		return
	}
	ost, ok := staticShape(out)
	if !ok || numel(ost) < 0 {
		return
	}
	first := make([]int64, len(in))
	step := make([]int64, len(in))
	for i := range step {
		step[i] = 1
	}
	for i, a := range axes {
		ax, _ := tensor.NormAxis(a, len(in))
		s0, ok := starts[i].Value()
		if !ok {
			return
		}
		n := in[ax]
		if s0 < 0 {
			s0 += n
		}
		if steps[i] > 0 {
			s0 = min(max(s0, 0), n)
		} else {
			s0 = min(max(s0, 0), n-1)
		}
		first[ax], step[ax] = s0, steps[i]
	}
	st := strides(in)
	pickValues(c, v, ost, func(idx []int64) (int, bool) {
		k := 0
		for a := range idx {
			j := first[a] + idx[a]*step[a]
			if j < 0 || j >= in[a] {
				return 0, false
			}
			k += int(j) * st[a]
		}
		return k, true
	})
}

func inferTranspose(c *Context) error {
	sh, ok := c.Shape(0)
	if !ok {
		c.SetElem(0, c.Elem(0))
		return nil
	}
	perm, has := c.Attrs().Ints("perm")
	if !has {
		perm = make([]int64, len(sh))
		for i := range perm {
			perm[i] = int64(len(sh) - 1 - i)
		}
	}
	if len(perm) != len(sh) {
		return c.Failf("Transpose perm has %d axes for rank %d", len(perm), len(sh))
	}
	out := make([]sym.Dim, len(sh))
	for i, p := range perm {
		ax, err := tensor.NormAxis(p, len(sh))
		if err != nil {
			return err
		}
		out[i] = sh[ax]
	}
	c.SetTensor(0, c.Elem(0), out)
	if v, in, ok := c.valuesND(0); ok {
		ost, _ := staticShape(out)
		st := strides(in)
		pickValues(c, v, ost, func(idx []int64) (int, bool) {
			k := 0
			for i, p := range perm {
				ax, _ := tensor.NormAxis(p, len(in))
				k += int(idx[i]) * st[ax]
			}
			return k, true
		})
	}
	return nil
}

func inferExpand(c *Context) error {
	elem := c.Elem(0)
	target, ok := c.Values(1)
	for _, d := range target {
		// ONNX Runtime refuses these at run time; sizing a slice by one panics.
		if v, known := d.Value(); known && v < 0 {
			return c.Failf("Expand shape has a negative dim, %d", v)
		}
	}
	sh, ok0 := c.Shape(0)
	if !ok || !ok0 {
		if n, ok := c.Shape(1); ok && ok0 && len(n) == 1 {
			if r, ok := n[0].Value(); ok {
				if r > maxValues {
					return c.Failf("Expand shape of %d dims", r)
				}
				// Runtime shape: a dim of the input other than 1 is forced,
				// since the target can only broadcast to it.
				out := make([]sym.Dim, max(int(r), len(sh)))
				for i := range out {
					out[i] = c.NewDim()
					if j := i - len(out) + len(sh); j >= 0 {
						if v, ok := sh[j].Value(); ok && v != 1 {
							out[i] = sh[j]
						}
					}
				}
				c.SetTensor(0, elem, out)
				return nil
			}
		}
		c.SetElem(0, elem)
		return nil
	}
	out, err := c.Broadcast(sh, target)
	if err != nil {
		return err
	}
	for i := range out {
		out[i] = c.orNew(out[i])
	}
	c.SetTensor(0, elem, out)
	if v, in, ok := c.valuesND(0); ok && len(out) > 1 {
		if ost, ok := staticShape(out); ok {
			if vals, ok := broadcastValues(v, in, ost); ok {
				c.SetValues(0, vals)
			}
		}
		return nil
	}
	// A scalar or one-element value expanded to a short vector.
	if v, ok := c.Values(0); ok && len(v) == 1 && len(out) <= 1 {
		n := int64(1)
		if len(out) == 1 {
			if n, ok = out[0].Value(); !ok || n > maxValues {
				return nil
			}
		}
		vals := make([]sym.Dim, n)
		for i := range vals {
			vals[i] = v[0]
		}
		c.SetValues(0, vals)
	}
	return nil
}

func inferTile(c *Context) error {
	sh, ok := c.Shape(0)
	if !ok {
		c.SetElem(0, c.Elem(0))
		return nil
	}
	reps, ok := c.Values(1)
	if !ok {
		c.SetRank(0, c.Elem(0), len(sh))
		return nil
	}
	if len(reps) != len(sh) {
		return c.Failf("Tile has %d repeats for rank %d", len(reps), len(sh))
	}
	out := make([]sym.Dim, len(sh))
	for i := range sh {
		out[i] = c.orNew(sym.Mul(sh[i], reps[i]))
	}
	c.SetTensor(0, c.Elem(0), out)
	return nil
}

func inferSplit(c *Context, form int64) error {
	elem := c.Elem(0)
	n := c.NumOutputs()
	sh, ok := c.Shape(0)
	if !ok {
		for i := 0; i < n; i++ {
			c.SetElem(i, elem)
		}
		return nil
	}
	axis, err := tensor.NormAxis(c.Attrs().Int("axis", 0), len(sh))
	if err != nil {
		return err
	}
	var split []int64
	var has bool
	if form < 13 {
		split, has = c.Attrs().Ints("split")
		if !has && c.HasInput(1) {
			split, has = c.Ints(1)
		}
	} else if c.HasInput(1) {
		split, has = c.Ints(1)
		if !has {
			for i := 0; i < n; i++ {
				// Runtime sizes: non-negative and summing to the dim, so a
				// dim of 0 splits into 0s and one output takes it all.
				out := append([]sym.Dim{}, sh...)
				if v, ok := sh[axis].Value(); !(ok && v == 0) && n > 1 {
					out[axis] = c.NewDim()
				}
				c.SetTensor(i, elem, out)
			}
			return nil
		}
	}
	parts := make([]sym.Dim, n)
	switch {
	case has:
		if len(split) != n {
			return c.Failf("Split has %d sizes for %d outputs", len(split), n)
		}
		for i, s := range split {
			parts[i] = sym.Int(s)
		}
	default:
		d := sh[axis]
		if v, ok := d.Value(); ok && form >= 18 {
			// Opset 18: the last chunk may be smaller.
			chunk := ceilDiv(v, int64(n))
			for i := range parts {
				parts[i] = sym.Int(max(0, min(chunk, v-int64(i)*chunk)))
			}
		} else if form >= 18 {
			// ceil(d/n) each, the last part what remains.
			chunk := sym.CeilDiv(d, sym.Int(int64(n)))
			for i := range parts {
				parts[i] = c.orNew(chunk)
			}
			parts[n-1] = c.orNew(sym.Max(sym.Int(0), sym.Sub(d, sym.Mul(chunk, sym.Int(int64(n-1))))))
		} else {
			q := sym.FloorDiv(d, sym.Int(int64(n)))
			if v, ok := d.Value(); ok && v%int64(n) != 0 {
				return c.Failf("Split of dim %d into %d equal parts", v, n)
			}
			for i := range parts {
				parts[i] = c.orNew(q)
			}
		}
	}
	for i := 0; i < n; i++ {
		out := append([]sym.Dim{}, sh...)
		out[axis] = parts[i]
		c.SetTensor(i, elem, out)
	}
	return nil
}

func inferPad(c *Context, form int64) error {
	elem := c.Elem(0)
	sh, ok := c.Shape(0)
	if !ok {
		c.SetElem(0, elem)
		return nil
	}
	var pads []sym.Dim
	var has bool
	if form < 11 {
		var p []int64
		p, has = c.Attrs().Ints("pads")
		if !has {
			p, has = c.Attrs().Ints("paddings")
		}
		pads = ints(p...)
	} else {
		// Pad amounts computed from shapes may be expressions.
		pads, has = c.Values(1)
	}
	if !has {
		c.SetRank(0, elem, len(sh))
		return nil
	}
	axes := make([]int64, len(sh))
	for i := range axes {
		axes[i] = int64(i)
	}
	if form >= 18 && c.HasInput(3) {
		a, ok := c.Ints(3)
		if !ok {
			c.SetRank(0, elem, len(sh))
			return nil
		}
		axes = a
	}
	if len(pads) != 2*len(axes) {
		return c.Failf("Pad has %d pads for %d axes", len(pads), len(axes))
	}
	out := append([]sym.Dim{}, sh...)
	for i, a := range axes {
		ax, err := tensor.NormAxis(a, len(sh))
		if err != nil {
			return err
		}
		out[ax] = c.orNew(sym.Add(out[ax], sym.Add(pads[i], pads[i+len(axes)])))
	}
	c.SetTensor(0, elem, out)
	return nil
}

func inferDepthSpace(toDepth bool) func(*Context) error {
	return func(c *Context) error {
		sh, ok := c.Shape(0)
		if !ok || len(sh) != 4 {
			c.SetElem(0, c.Elem(0))
			return nil
		}
		b := sym.Int(c.Attrs().Int("blocksize", 1))
		bb := sym.Mul(b, b)
		if toDepth {
			sh[1] = sym.Mul(sh[1], bb)
			sh[2] = c.orNew(sym.FloorDiv(sh[2], b))
			sh[3] = c.orNew(sym.FloorDiv(sh[3], b))
		} else {
			sh[1] = c.orNew(sym.FloorDiv(sh[1], bb))
			sh[2] = sym.Mul(sh[2], b)
			sh[3] = sym.Mul(sh[3], b)
		}
		c.SetTensor(0, c.Elem(0), sh)
		return nil
	}
}

func inferTile1(c *Context) error {
	sh, ok := c.Shape(0)
	tiles, ok1 := c.Values(1)
	axis, ok2 := c.Ints(2)
	if !ok || !ok1 || !ok2 || len(tiles) != 1 || len(axis) != 1 {
		if ok {
			c.SetRank(0, c.Elem(0), len(sh))
		} else {
			c.SetElem(0, c.Elem(0))
		}
		return nil
	}
	ax, err := tensor.NormAxis(axis[0], len(sh))
	if err != nil {
		return err
	}
	sh[ax] = c.orNew(sym.Mul(sh[ax], tiles[0]))
	c.SetTensor(0, c.Elem(0), sh)
	return nil
}
