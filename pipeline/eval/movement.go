package eval

import (
	"fmt"
	"math"

	"github.com/quantprep/quantprep/pipeline/opset"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// movementOps: operators that select, reorder or repeat elements. Each computes
// the source index of every output element and hands it to pick, so they work
// on every element type.
var movementOps = opset.Join(
	forms("Slice", evalSlice, 1, 10),     // 10: starts, ends, axes and steps are inputs
	forms("Split", evalSplit, 2, 13, 18), // 13: split is an input; 18: num_outputs, uneven chunks
	[]Op{
		{Name: "Concat", Since: 4, Rule: evalConcat},
		{Name: "Gather", Since: 1, Rule: evalGather},
		{Name: "Transpose", Since: 1, Rule: evalTranspose},
		{Name: "Expand", Since: 8, Rule: evalExpand},
		{Name: "Tile", Since: 6, Rule: evalTile},
		{Name: "Pad", Since: 11, Rule: evalPad},
	},
	// Versions where ONNX changed the schema and the row before still holds.
	same("Concat", whyNegAxes, 11),
	same("Concat", whyTypes, 13),
	same("Expand", whyTypes, 13),
	same("Gather", whyNegAxes, 11),
	same("Gather", whyTypes, 13),
	same("Pad", whyTypes, 13),
	same("Pad", "axes became an input: the kernel reads input 3 at every version (absent before 18)", 18),
	same("Pad", "wrap mode: the kernel folds constant mode only and refuses the others", 19),
	same("Pad", whyNewTypes, 21, 23, 24, 25),
	same("Slice", whyNegAxes, 11),
	same("Slice", whyTypes, 13),
	same("Split", whyNegAxes, 11),
	same("Tile", whyTypes, 13),
	same("Transpose", whyTypes, 13),
	same("Transpose", whyNewTypes, 21, 23, 24, 25),
)

// forEachIndex calls f with every multi-index of dims in row-major order.
func forEachIndex(dims []int64, f func(ix []int64)) {
	n := tensor.NumElements(dims)
	ix := make([]int64, len(dims))
	for i := int64(0); i < n; i++ {
		f(ix)
		for a := len(dims) - 1; a >= 0; a-- {
			ix[a]++
			if ix[a] < dims[a] {
				break
			}
			ix[a] = 0
		}
	}
}

func evalConcat(c *Ctx) ([]*tensor.Tensor, error) {
	if len(c.In) == 0 {
		return nil, fmt.Errorf("no inputs")
	}
	if err := need(c, len(c.In)); err != nil {
		return nil, err
	}
	first := c.In[0]
	axis, err := tensor.NormAxis(c.Attrs.Int("axis", 0), len(first.Dims))
	if err != nil {
		return nil, err
	}
	dims := append([]int64{}, first.Dims...)
	dims[axis] = 0
	offsets := make([]int64, len(c.In))
	base := int64(0)
	for i, t := range c.In {
		if t.DType != first.DType || len(t.Dims) != len(first.Dims) {
			return nil, fmt.Errorf("input %d: %s%v does not concatenate with %s%v", i, t.DType, t.Dims, first.DType, first.Dims)
		}
		for a := range t.Dims {
			if a != axis && t.Dims[a] != first.Dims[a] {
				return nil, fmt.Errorf("input %d: dims %v do not match %v", i, t.Dims, first.Dims)
			}
		}
		dims[axis] += t.Dims[axis]
		offsets[i] = base
		base += t.Len()
	}
	if err := c.roomDims("concatenation", dims, 16); err != nil {
		return nil, err
	}
	all := concatFlat(c.In...)
	idx := make([]int64, 0, tensor.NumElements(dims))
	outer := tensor.NumElements(dims[:axis])
	for o := int64(0); o < outer; o++ {
		for i, t := range c.In {
			block := tensor.NumElements(t.Dims[axis:])
			for k := int64(0); k < block; k++ {
				idx = append(idx, offsets[i]+o*block+k)
			}
		}
	}
	return []*tensor.Tensor{pick(all, dims, idx)}, nil
}

func evalGather(c *Ctx) ([]*tensor.Tensor, error) {
	if err := need(c, 2); err != nil {
		return nil, err
	}
	x := c.In[0]
	ind, err := ints(c.In[1])
	if err != nil {
		return nil, fmt.Errorf("indices: %w", err)
	}
	axis, err := tensor.NormAxis(c.Attrs.Int("axis", 0), len(x.Dims))
	if err != nil {
		return nil, err
	}
	dims := append(append(append([]int64{}, x.Dims[:axis]...), c.In[1].Dims...), x.Dims[axis+1:]...)
	outer := tensor.NumElements(x.Dims[:axis])
	inner := tensor.NumElements(x.Dims[axis+1:])
	n := x.Dims[axis]
	if err := c.roomDims("gathered result", dims, 16); err != nil {
		return nil, err
	}
	idx := make([]int64, 0, tensor.NumElements(dims))
	for o := int64(0); o < outer; o++ {
		for _, j := range ind {
			if j < 0 {
				j += n
			}
			if j < 0 || j >= n {
				return nil, fmt.Errorf("index %d out of range for dim %d", j, n)
			}
			for k := int64(0); k < inner; k++ {
				idx = append(idx, (o*n+j)*inner+k)
			}
		}
	}
	return []*tensor.Tensor{pick(x, dims, idx)}, nil
}

func evalTranspose(c *Ctx) ([]*tensor.Tensor, error) {
	if err := need(c, 1); err != nil {
		return nil, err
	}
	x := c.In[0]
	dims, pst, err := transposeLayout(c.Attrs, x.Dims)
	if err != nil {
		return nil, err
	}
	// Copied directly rather than through pick: an index per element would
	// cost twice a float weight's size again (GPT-2's vocabulary projection
	// is 257 MB), and this runs on every weight of a torch export.
	if err := c.roomDims("transposed result", dims, 8); err != nil {
		return nil, err
	}
	out := &tensor.Tensor{DType: x.DType, Dims: dims}
	switch {
	case x.F32 != nil || x.DType.IsFloat() && x.DType != tensor.Double:
		out.F32 = permute(x.F32, dims, pst)
	case x.F64 != nil || x.DType == tensor.Double:
		out.F64 = permute(x.F64, dims, pst)
	case x.Str != nil || x.DType == tensor.String:
		out.Str = permute(x.Str, dims, pst)
	default:
		out.I64 = permute(x.I64, dims, pst)
	}
	return []*tensor.Tensor{out}, nil
}

// transposeLayout reads a Transpose's perm (default: reverse the axes) and
// returns its output dims and, for each output axis, the step in elements
// that moving along it takes in the input.
func transposeLayout(attrs Attrs, in []int64) (dims, pst []int64, err error) {
	rank := len(in)
	perm, ok := attrs.Ints("perm")
	if !ok {
		perm = make([]int64, rank)
		for i := range perm {
			perm[i] = int64(rank - 1 - i)
		}
	}
	if len(perm) != rank {
		return nil, nil, fmt.Errorf("perm %v for rank %d", perm, rank)
	}
	st := strides(in)
	dims = make([]int64, rank)
	pst = make([]int64, rank)
	seen := make([]bool, rank)
	for i, p := range perm {
		if p < 0 || p >= int64(rank) || seen[p] {
			return nil, nil, fmt.Errorf("invalid perm %v", perm)
		}
		seen[p] = true
		dims[i], pst[i] = in[p], st[p]
	}
	return dims, pst, nil
}

// permute returns the elements of src in the row-major order of dims, where
// moving one step along output axis a moves pst[a] elements in src.
func permute[T any](src []T, dims, pst []int64) []T {
	n := tensor.NumElements(dims)
	out := make([]T, n)
	if n == 0 {
		return out
	}
	last := len(dims) - 1
	if last < 0 {
		out[0] = src[0]
		return out
	}
	ix := make([]int64, last)
	inner, step := dims[last], pst[last]
	base := int64(0) // offset in src of the current row of the output
	for o := int64(0); o < n; o += inner {
		p := base
		for k := o; k < o+inner; k++ {
			out[k] = src[p]
			p += step
		}
		for a := last - 1; a >= 0; a-- {
			ix[a]++
			base += pst[a]
			if ix[a] < dims[a] {
				break
			}
			base -= ix[a] * pst[a]
			ix[a] = 0
		}
	}
	return out
}

// strided picks, along each axis a, the positions start[a], start[a]+step[a],
// ... (count[a] of them) of x.
func strided(x *tensor.Tensor, start, step, count []int64) *tensor.Tensor {
	st := strides(x.Dims)
	idx := make([]int64, 0, tensor.NumElements(count))
	forEachIndex(count, func(ix []int64) {
		s := int64(0)
		for a, v := range ix {
			s += (start[a] + v*step[a]) * st[a]
		}
		idx = append(idx, s)
	})
	return pick(x, count, idx)
}

func evalSlice(c *Ctx, form int64) ([]*tensor.Tensor, error) {
	if err := need(c, 1); err != nil {
		return nil, err
	}
	x := c.In[0]
	rank := len(x.Dims)
	var starts, ends, axes, steps []int64
	if form >= 10 {
		if err := need(c, 3); err != nil {
			return nil, err
		}
		var err error
		if starts, err = ints(c.In[1]); err != nil {
			return nil, err
		}
		if ends, err = ints(c.In[2]); err != nil {
			return nil, err
		}
		if t := c.Input(3); t != nil {
			if axes, err = ints(t); err != nil {
				return nil, err
			}
		}
		if t := c.Input(4); t != nil {
			if steps, err = ints(t); err != nil {
				return nil, err
			}
		}
	} else {
		starts, _ = c.Attrs.Ints("starts")
		ends, _ = c.Attrs.Ints("ends")
		axes, _ = c.Attrs.Ints("axes")
	}
	if len(starts) != len(ends) || axes != nil && len(axes) != len(starts) || steps != nil && len(steps) != len(starts) {
		return nil, fmt.Errorf("starts, ends, axes and steps differ in length")
	}
	start := make([]int64, rank)
	step := make([]int64, rank)
	count := append([]int64{}, x.Dims...)
	for i := range step {
		step[i] = 1
	}
	for i := range starts {
		a := int64(i)
		if axes != nil {
			a = axes[i]
		}
		ax, err := tensor.NormAxis(a, rank)
		if err != nil {
			return nil, err
		}
		s, e, k := starts[i], ends[i], int64(1)
		if steps != nil {
			k = steps[i]
		}
		if k == 0 {
			return nil, fmt.Errorf("step 0")
		}
		d := x.Dims[ax]
		if s < 0 {
			s += d
		}
		if e < 0 {
			e += d
		}
		if k > 0 {
			s, e = min(max(s, 0), d), min(max(e, 0), d)
			count[ax] = max(0, (e-s+k-1)/k)
		} else {
			s, e = min(max(s, -1), d-1), min(max(e, -1), d-1)
			count[ax] = max(0, (s-e-k-1)/(-k))
		}
		start[ax], step[ax] = s, k
	}
	if err := c.roomDims("slice", count, 16); err != nil {
		return nil, err
	}
	return []*tensor.Tensor{strided(x, start, step, count)}, nil
}

func evalSplit(c *Ctx, form int64) ([]*tensor.Tensor, error) {
	if err := need(c, 1); err != nil {
		return nil, err
	}
	x := c.In[0]
	axis, err := tensor.NormAxis(c.Attrs.Int("axis", 0), len(x.Dims))
	if err != nil {
		return nil, err
	}
	d := x.Dims[axis]
	var sizes []int64
	switch {
	case form >= 13 && c.Input(1) != nil:
		if sizes, err = ints(c.In[1]); err != nil {
			return nil, err
		}
	case form < 13 && c.Attrs.Has("split"):
		sizes, _ = c.Attrs.Ints("split")
	default:
		n := int64(c.NumOutputs)
		if c.Attrs.Has("num_outputs") {
			n = c.Attrs.Int("num_outputs", n)
		}
		if n <= 0 || n != int64(c.NumOutputs) {
			// Checked before the loop: num_outputs can be 2^31.
			return nil, fmt.Errorf("%d outputs for %d declared", n, c.NumOutputs)
		}
		chunk := (d + n - 1) / n
		if form < 18 && d%n != 0 {
			return nil, fmt.Errorf("dim %d does not split evenly in %d", d, n)
		}
		for i := int64(0); i < n; i++ {
			sizes = append(sizes, min(chunk, max(d-i*chunk, 0)))
		}
	}
	if len(sizes) != c.NumOutputs {
		return nil, fmt.Errorf("%d split sizes for %d outputs", len(sizes), c.NumOutputs)
	}
	if err := c.roomDims("split results", x.Dims, 16); err != nil {
		return nil, err
	}
	start := make([]int64, len(x.Dims))
	step := make([]int64, len(x.Dims))
	for i := range step {
		step[i] = 1
	}
	var out []*tensor.Tensor
	off := int64(0)
	for _, s := range sizes {
		if s < 0 || off+s > d {
			return nil, fmt.Errorf("split sizes %v exceed dim %d", sizes, d)
		}
		count := append([]int64{}, x.Dims...)
		count[axis] = s
		start[axis] = off
		out = append(out, strided(x, start, step, count))
		off += s
	}
	if off != d {
		return nil, fmt.Errorf("split sizes %v do not sum to dim %d", sizes, d)
	}
	return out, nil
}

func evalExpand(c *Ctx) ([]*tensor.Tensor, error) {
	if err := need(c, 2); err != nil {
		return nil, err
	}
	x := c.In[0]
	shape, err := ints(c.In[1])
	if err != nil {
		return nil, fmt.Errorf("shape: %w", err)
	}
	for _, d := range shape {
		if d < 0 {
			return nil, fmt.Errorf("negative dim in shape %v", shape)
		}
	}
	dims, err := broadcastDims(x.Dims, shape)
	if err != nil {
		return nil, err
	}
	if err := c.roomDims("expanded result", dims, 16); err != nil {
		return nil, err
	}
	return []*tensor.Tensor{pick(x, dims, broadcastIndex(x.Dims, dims))}, nil
}

func evalTile(c *Ctx) ([]*tensor.Tensor, error) {
	if err := need(c, 2); err != nil {
		return nil, err
	}
	x := c.In[0]
	reps, err := ints(c.In[1])
	if err != nil {
		return nil, fmt.Errorf("repeats: %w", err)
	}
	if len(reps) != len(x.Dims) {
		return nil, fmt.Errorf("%d repeats for rank %d", len(reps), len(x.Dims))
	}
	dims := make([]int64, len(reps))
	for i, r := range reps {
		if r < 0 {
			return nil, fmt.Errorf("negative repeat %d", r)
		}
		if dims[i] = mulAll(x.Dims[i], r); dims[i] < 0 {
			return nil, fmt.Errorf("%w: tiling %v by %v overflows", ErrOverBudget, x.Dims, reps)
		}
	}
	if err := c.roomDims("tiled result", dims, 16); err != nil {
		return nil, err
	}
	st := strides(x.Dims)
	idx := make([]int64, 0, tensor.NumElements(dims))
	forEachIndex(dims, func(ix []int64) {
		s := int64(0)
		for a, v := range ix {
			s += (v % x.Dims[a]) * st[a]
		}
		idx = append(idx, s)
	})
	return []*tensor.Tensor{pick(x, dims, idx)}, nil
}

// evalPad handles constant mode (the value defaults to zero) with optional axes.
func evalPad(c *Ctx) ([]*tensor.Tensor, error) {
	if err := need(c, 2); err != nil {
		return nil, err
	}
	x := c.In[0]
	if mode := c.Attrs.String("mode", "constant"); mode != "constant" {
		return nil, unsupported("Pad mode %q", mode)
	}
	pads, err := ints(c.In[1])
	if err != nil {
		return nil, fmt.Errorf("pads: %w", err)
	}
	rank := len(x.Dims)
	axes := make([]int64, rank)
	for i := range axes {
		axes[i] = int64(i)
	}
	if t := c.Input(3); t != nil {
		if axes, err = ints(t); err != nil {
			return nil, err
		}
	}
	if len(pads) != 2*len(axes) {
		return nil, fmt.Errorf("%d pads for %d axes", len(pads), len(axes))
	}
	begin, end := make([]int64, rank), make([]int64, rank)
	for i, a := range axes {
		ax, err := tensor.NormAxis(a, rank)
		if err != nil {
			return nil, err
		}
		begin[ax], end[ax] = pads[i], pads[len(axes)+i]
	}
	dims := make([]int64, rank)
	for i := range dims {
		// Pads of either sign near 2^63 would wrap around; a dim that
		// large never fits the budget anyway.
		const huge = math.MaxInt64 / 4
		if begin[i] > huge || begin[i] < -huge || end[i] > huge || end[i] < -huge {
			return nil, fmt.Errorf("%w: pads %v", ErrOverBudget, pads)
		}
		dims[i] = x.Dims[i] + begin[i] + end[i]
		if dims[i] < 0 {
			return nil, fmt.Errorf("pads %v remove more than dim %d", pads, x.Dims[i])
		}
	}
	if err := c.roomDims("padded result", dims, 16); err != nil {
		return nil, err
	}
	fill := tensor.New(x.DType, nil)
	if t := c.Input(2); t != nil {
		if t.DType != x.DType || t.Len() != 1 {
			return nil, fmt.Errorf("constant_value must be one %s", x.DType)
		}
		fill = t
	}
	both := concatFlat(x, fill)
	st := strides(x.Dims)
	idx := make([]int64, 0, tensor.NumElements(dims))
	forEachIndex(dims, func(ix []int64) {
		s := int64(0)
		for a, v := range ix {
			p := v - begin[a]
			if p < 0 || p >= x.Dims[a] {
				s = -1
				break
			}
			s += p * st[a]
		}
		if s < 0 {
			s = x.Len()
		}
		idx = append(idx, s)
	})
	return []*tensor.Tensor{pick(both, dims, idx)}, nil
}
