package eval

import (
	"bytes"
	"cmp"
	"fmt"

	"github.com/quantprep/quantprep/pipeline/opset"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// logicOps: comparisons, boolean logic and Where.
var logicOps = opset.Join(
	[]Op{
		{Name: "Equal", Since: 7, Rule: compare(func(c int) bool { return c == 0 })},
		{Name: "Less", Since: 7, Rule: compare(func(c int) bool { return c < 0 })},
		{Name: "Greater", Since: 7, Rule: compare(func(c int) bool { return c > 0 })},
		{Name: "LessOrEqual", Since: 12, Rule: compare(func(c int) bool { return c <= 0 })},
		{Name: "GreaterOrEqual", Since: 12, Rule: compare(func(c int) bool { return c >= 0 })},
		{Name: "And", Since: 7, Rule: boolean(func(a, b bool) bool { return a && b })},
		{Name: "Or", Since: 7, Rule: boolean(func(a, b bool) bool { return a || b })},
		{Name: "Xor", Since: 7, Rule: boolean(func(a, b bool) bool { return a != b })},
		{Name: "Not", Since: 1, Rule: evalNot},
		{Name: "Where", Since: 9, Rule: evalWhere},
	},
	// Versions where ONNX changed the schema and the row before still holds.
	same("Equal", whyTypes, 11, 13, 19),
	same("Greater", whyTypes, 9, 13),
	same("GreaterOrEqual", whyTypes, 16),
	same("Less", whyTypes, 9, 13),
	same("LessOrEqual", whyTypes, 16),
	same("Where", whyTypes, 16),
)

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// cmp3 compares element i of a with element j of b: -1, 0 or 1; NaN compares
// unequal to everything, which no predicate above accepts but "!=".
func cmp3(a, b *tensor.Tensor, i, j int64) (int, bool) {
	switch {
	case a.I64 != nil && b.I64 != nil:
		x, y := a.I64[i], b.I64[j]
		if a.DType == tensor.Uint64 {
			return cmp.Compare(uint64(x), uint64(y)), true
		}
		return cmp.Compare(x, y), true
	case a.Str != nil || b.Str != nil:
		return bytes.Compare(a.Str[i], b.Str[j]), true
	}
	x, y := a.Float64At(int(i)), b.Float64At(int(j))
	switch {
	case x < y:
		return -1, true
	case x > y:
		return 1, true
	case x == y:
		return 0, true
	}
	return 0, false // NaN
}

func compare(pred func(int) bool) Kernel {
	return func(c *Ctx) ([]*tensor.Tensor, error) {
		if err := needSameType(c, 2); err != nil {
			return nil, err
		}
		a, b := c.In[0], c.In[1]
		dims, ia, ib, err := broadcast2(c, a, b)
		if err != nil {
			return nil, err
		}
		r := tensor.New(tensor.Bool, dims)
		for i := range r.I64 {
			c, ok := cmp3(a, b, ia[i], ib[i])
			r.I64[i] = b2i(ok && pred(c))
		}
		return []*tensor.Tensor{r}, nil
	}
}

func boolean(f func(a, b bool) bool) Kernel {
	return func(c *Ctx) ([]*tensor.Tensor, error) {
		if err := need(c, 2); err != nil {
			return nil, err
		}
		a, b := c.In[0], c.In[1]
		if a.DType != tensor.Bool || b.DType != tensor.Bool {
			return nil, fmt.Errorf("want bool inputs, got %s and %s", a.DType, b.DType)
		}
		dims, ia, ib, err := broadcast2(c, a, b)
		if err != nil {
			return nil, err
		}
		r := tensor.New(tensor.Bool, dims)
		for i := range r.I64 {
			r.I64[i] = b2i(f(a.I64[ia[i]] != 0, b.I64[ib[i]] != 0))
		}
		return []*tensor.Tensor{r}, nil
	}
}

func evalNot(c *Ctx) ([]*tensor.Tensor, error) {
	if err := need(c, 1); err != nil {
		return nil, err
	}
	x := c.In[0]
	if x.DType != tensor.Bool {
		return nil, fmt.Errorf("want a bool input, got %s", x.DType)
	}
	if err := c.roomDims("result", x.Dims, 8); err != nil {
		return nil, err
	}
	r := tensor.New(tensor.Bool, x.Dims)
	for i, v := range x.I64 {
		r.I64[i] = b2i(v == 0)
	}
	return []*tensor.Tensor{r}, nil
}

func evalWhere(c *Ctx) ([]*tensor.Tensor, error) {
	if err := need(c, 3); err != nil {
		return nil, err
	}
	cond, x, y := c.In[0], c.In[1], c.In[2]
	if cond.DType != tensor.Bool {
		return nil, fmt.Errorf("want a bool condition, got %s", cond.DType)
	}
	if x.DType != y.DType {
		return nil, fmt.Errorf("input types differ: %s and %s", x.DType, y.DType)
	}
	dims, err := broadcastDims(cond.Dims, x.Dims, y.Dims)
	if err != nil {
		return nil, err
	}
	// Four index tables and the result.
	if err := c.roomDims("broadcast result", dims, 40); err != nil {
		return nil, err
	}
	ic, ix, iy := broadcastIndex(cond.Dims, dims), broadcastIndex(x.Dims, dims), broadcastIndex(y.Dims, dims)
	// Concatenate x and y so one pick does the selection for every type.
	both := concatFlat(x, y)
	idx := make([]int64, len(ic))
	for i := range idx {
		if cond.I64[ic[i]] != 0 {
			idx[i] = ix[i]
		} else {
			idx[i] = x.Len() + iy[i]
		}
	}
	return []*tensor.Tensor{pick(both, dims, idx)}, nil
}

// concatFlat joins the values of tensors of one type into a flat tensor.
func concatFlat(ts ...*tensor.Tensor) *tensor.Tensor {
	out := &tensor.Tensor{DType: ts[0].DType}
	n := int64(0)
	for _, t := range ts {
		out.F32 = append(out.F32, t.F32...)
		out.F64 = append(out.F64, t.F64...)
		out.I64 = append(out.I64, t.I64...)
		out.Str = append(out.Str, t.Str...)
		n += t.Len()
	}
	out.Dims = []int64{n}
	return out
}
