package eval

import (
	"fmt"
	"math"

	"github.com/quantprep/quantprep/pipeline/opset"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// elementwiseOps: arithmetic with numpy broadcasting, unary math, Cast, Identity.
// Float values are computed in float64 and rounded once to the element type,
// which gives the correctly rounded float32 result for + - * / and sqrt.
var elementwiseOps = opset.Join(
	[]Op{
		{Name: "Add", Since: 7, Rule: binaryArith(func(a, b float64) float64 { return a + b }, func(a, b int64) (int64, error) { return a + b, nil })},
		{Name: "Sub", Since: 7, Rule: binaryArith(func(a, b float64) float64 { return a - b }, func(a, b int64) (int64, error) { return a - b, nil })},
		{Name: "Mul", Since: 7, Rule: binaryArith(func(a, b float64) float64 { return a * b }, func(a, b int64) (int64, error) { return a * b, nil })},
		{Name: "Div", Since: 7, Rule: binaryArith(func(a, b float64) float64 { return a / b }, intDiv)},
		{Name: "Pow", Since: 7, Rule: evalPow},
		{Name: "Max", Since: 8, Rule: variadic(math.Max, func(a, b int64) (int64, error) { return max(a, b), nil })},
		{Name: "Min", Since: 8, Rule: variadic(math.Min, func(a, b int64) (int64, error) { return min(a, b), nil })},
		{Name: "Sum", Since: 8, Rule: variadic(func(a, b float64) float64 { return a + b }, func(a, b int64) (int64, error) { return a + b, nil })},
		{Name: "Neg", Since: 6, Rule: unary(func(x float64) float64 { return -x }, func(x int64) int64 { return -x })},
		{Name: "Abs", Since: 6, Rule: unary(math.Abs, func(x int64) int64 { return max(x, -x) })},
		{Name: "Sign", Since: 9, Rule: unary(sign, func(x int64) int64 { return int64(sign(float64(x))) })},
		{Name: "Sqrt", Since: 6, Rule: unary(math.Sqrt, nil)},
		{Name: "Exp", Since: 6, Rule: unary(math.Exp, nil)},
		{Name: "Log", Since: 6, Rule: unary(math.Log, nil)},
		{Name: "Reciprocal", Since: 6, Rule: unary(func(x float64) float64 { return 1 / x }, nil)},
		{Name: "Floor", Since: 6, Rule: unary(math.Floor, nil)},
		{Name: "Ceil", Since: 6, Rule: unary(math.Ceil, nil)},
		{Name: "Round", Since: 11, Rule: unary(math.RoundToEven, nil)},
		{Name: "Relu", Since: 6, Rule: unary(func(x float64) float64 { return max(x, 0) }, func(x int64) int64 { return max(x, 0) })},
		{Name: "Sigmoid", Since: 6, Rule: unary(func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }, nil)},
		{Name: "Tanh", Since: 6, Rule: unary(math.Tanh, nil)},
		{Name: "Erf", Since: 9, Rule: unary(math.Erf, nil)},
		{Name: "Sin", Since: 7, Rule: unary(math.Sin, nil)},
		{Name: "Cos", Since: 7, Rule: unary(math.Cos, nil)},
		{Name: "Gelu", Since: 20, Rule: evalGelu},
		{Name: "Identity", Since: 1, Rule: evalIdentity},
		{Name: "Cast", Since: 6, Rule: evalCast},
		{Name: "Softmax", Since: 13, Rule: evalSoftmax},
		{Name: "Clip", Since: 11, Rule: evalClip},
		{Name: "Trilu", Since: 14, Rule: evalTrilu},
	},
	// Versions where ONNX changed the schema and the row before still holds.
	same("Abs", whyTypes, 13),
	same("Add", whyTypes, 13, 14),
	same("Cast", whyTypes, 9, 13),
	same("Cast", whyNewTypes, 19, 21, 23, 24, 25),
	same("Ceil", whyTypes, 13),
	same("Clip", whyTypes, 12, 13),
	same("Cos", whyNewTypes, 22),
	same("Div", whyTypes, 13, 14),
	same("Erf", whyTypes, 13),
	same("Exp", whyTypes, 13),
	same("Floor", whyTypes, 13),
	same("Identity", whyTypes, 13, 14, 16),
	same("Identity", whyNewTypes, 19, 21, 23, 24, 25),
	same("Log", whyTypes, 13),
	same("Max", whyTypes, 12, 13),
	same("Min", whyTypes, 12, 13),
	same("Mul", whyTypes, 13, 14),
	same("Neg", whyTypes, 13),
	same("Pow", whyTypes, 12, 13, 15),
	same("Reciprocal", whyTypes, 13),
	same("Relu", whyTypes, 13, 14),
	same("Round", whyNewTypes, 22),
	same("Sigmoid", whyTypes, 13),
	same("Sign", whyTypes, 13),
	same("Sin", whyNewTypes, 22),
	same("Sqrt", whyTypes, 13),
	same("Sub", whyTypes, 13, 14),
	same("Sum", whyTypes, 13),
	same("Tanh", whyTypes, 13),
)

func sign(x float64) float64 {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return x
}

func intDiv(a, b int64) (int64, error) {
	if b == 0 {
		return 0, fmt.Errorf("integer division by zero")
	}
	return a / b, nil
}

// apply2 computes f over the broadcast of a and b; the result has type out.
func apply2(c *Ctx, a, b *tensor.Tensor, out tensor.DType, f func(x, y float64) float64, fi func(x, y int64) (int64, error)) (*tensor.Tensor, error) {
	dims, ia, ib, err := broadcast2(c, a, b)
	if err != nil {
		return nil, err
	}
	r := tensor.New(out, dims)
	switch {
	case r.F32 != nil:
		for i := range r.F32 {
			r.F32[i] = float32(f(a.Float64At(int(ia[i])), b.Float64At(int(ib[i]))))
		}
	case r.F64 != nil:
		for i := range r.F64 {
			r.F64[i] = f(a.Float64At(int(ia[i])), b.Float64At(int(ib[i])))
		}
	case r.I64 != nil:
		if fi == nil || a.I64 == nil || b.I64 == nil {
			return nil, unsupported("integer inputs")
		}
		for i := range r.I64 {
			v, err := fi(a.I64[ia[i]], b.I64[ib[i]])
			if err != nil {
				return nil, err
			}
			r.I64[i] = wrapInt(out, v)
		}
	default:
		return nil, unsupported("element type %s", out)
	}
	return r, nil
}

func binaryArith(f func(x, y float64) float64, fi func(x, y int64) (int64, error)) Kernel {
	return func(c *Ctx) ([]*tensor.Tensor, error) {
		if err := needSameType(c, 2); err != nil {
			return nil, err
		}
		a, b := c.In[0], c.In[1]
		r, err := apply2(c, a, b, a.DType, f, fi)
		return []*tensor.Tensor{r}, err
	}
}

func variadic(f func(x, y float64) float64, fi func(x, y int64) (int64, error)) Kernel {
	return func(c *Ctx) ([]*tensor.Tensor, error) {
		if len(c.In) == 0 {
			return nil, fmt.Errorf("no inputs")
		}
		if err := needSameType(c, len(c.In)); err != nil {
			return nil, err
		}
		acc := c.In[0]
		for _, t := range c.In[1:] {
			var err error
			if acc, err = apply2(c, acc, t, acc.DType, f, fi); err != nil {
				return nil, err
			}
		}
		if len(c.In) == 1 {
			acc = pick(acc, acc.Dims, iota64(acc.Len()))
		}
		return []*tensor.Tensor{acc}, nil
	}
}

func evalPow(c *Ctx) ([]*tensor.Tensor, error) {
	if err := need(c, 2); err != nil {
		return nil, err
	}
	a, b := c.In[0], c.In[1]
	ipow := func(x, y int64) (int64, error) { return int64(math.Pow(float64(x), float64(y))), nil }
	if a.I64 != nil && b.I64 == nil {
		return nil, unsupported("integer base with float exponent")
	}
	r, err := apply2(c, a, b, a.DType, math.Pow, ipow)
	return []*tensor.Tensor{r}, err
}

func unary(f func(float64) float64, fi func(int64) int64) Kernel {
	return func(c *Ctx) ([]*tensor.Tensor, error) {
		if err := need(c, 1); err != nil {
			return nil, err
		}
		x := c.In[0]
		if err := c.roomDims("result", x.Dims, 8); err != nil {
			return nil, err
		}
		r := tensor.New(x.DType, x.Dims)
		switch {
		case r.F32 != nil:
			for i, v := range x.F32 {
				r.F32[i] = float32(f(float64(v)))
			}
		case r.F64 != nil:
			for i, v := range x.F64 {
				r.F64[i] = f(v)
			}
		case r.I64 != nil && fi != nil:
			for i, v := range x.I64 {
				r.I64[i] = wrapInt(x.DType, fi(v))
			}
		default:
			return nil, unsupported("element type %s", x.DType)
		}
		return []*tensor.Tensor{r}, nil
	}
}

func iota64(n int64) []int64 {
	idx := make([]int64, n)
	for i := range idx {
		idx[i] = int64(i)
	}
	return idx
}

func evalIdentity(c *Ctx) ([]*tensor.Tensor, error) {
	if err := need(c, 1); err != nil {
		return nil, err
	}
	x := c.In[0]
	if err := c.roomDims("copy", x.Dims, 16); err != nil {
		return nil, err
	}
	return []*tensor.Tensor{pick(x, x.Dims, iota64(x.Len()))}, nil
}

// evalCast converts between the numeric types and bool. Float to integer
// truncates toward zero; values narrow to the target's width; float16 and
// bfloat16 results are rounded to their precision so that later folds see
// the stored value.
func evalCast(c *Ctx) ([]*tensor.Tensor, error) {
	if err := need(c, 1); err != nil {
		return nil, err
	}
	x := c.In[0]
	to := tensor.DType(c.Attrs.Int("to", 0))
	if !to.Decodable() || !x.DType.Decodable() {
		return nil, unsupported("cast from %s to %s", x.DType, to)
	}
	if to == tensor.String || x.DType == tensor.String {
		return nil, unsupported("cast from %s to %s", x.DType, to)
	}
	if err := c.roomDims("result", x.Dims, 8); err != nil {
		return nil, err
	}
	r := tensor.New(to, x.Dims)
	n := int(x.Len())
	for i := 0; i < n; i++ {
		switch {
		case r.F32 != nil:
			v := float32(x.Float64At(i))
			if x.I64 != nil && x.DType != tensor.Uint64 {
				v = float32(x.I64[i])
			}
			switch to {
			case tensor.Float16:
				v = tensor.HalfToFloat(tensor.FloatToHalf(v))
			case tensor.BFloat16:
				v = math.Float32frombits(uint32(tensor.FloatToBFloat16(v)) << 16)
			}
			r.F32[i] = v
		case r.F64 != nil:
			r.F64[i] = x.Float64At(i)
		default:
			var v int64
			if x.I64 != nil {
				v = x.I64[i]
			} else {
				f := x.Float64At(i)
				if to == tensor.Bool {
					if f != 0 {
						v = 1
					}
				} else if math.IsNaN(f) || math.IsInf(f, 0) {
					return nil, unsupported("cast of %v to %s", f, to)
				} else {
					v = int64(f)
				}
			}
			r.I64[i] = wrapInt(to, v)
		}
	}
	return []*tensor.Tensor{r}, nil
}

func evalGelu(c *Ctx) ([]*tensor.Tensor, error) {
	f := func(x float64) float64 { return 0.5 * x * (1 + math.Erf(x/math.Sqrt2)) }
	if c.Attrs.String("approximate", "none") == "tanh" {
		f = func(x float64) float64 {
			return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
		}
	}
	return unary(f, nil)(c)
}

func evalSoftmax(c *Ctx) ([]*tensor.Tensor, error) {
	if err := need(c, 1); err != nil {
		return nil, err
	}
	x := c.In[0]
	if !x.DType.IsFloat() {
		return nil, unsupported("Softmax of %s", x.DType)
	}
	axis, err := tensor.NormAxis(c.Attrs.Int("axis", -1), len(x.Dims))
	if err != nil {
		return nil, err
	}
	d, inner := x.Dims[axis], tensor.NumElements(x.Dims[axis+1:])
	out := make([]float64, x.Len())
	for o := int64(0); o < tensor.NumElements(x.Dims[:axis]); o++ {
		for in := int64(0); in < inner; in++ {
			at := func(j int64) int64 { return (o*d+j)*inner + in }
			mx := math.Inf(-1)
			for j := int64(0); j < d; j++ {
				mx = math.Max(mx, x.Float64At(int(at(j))))
			}
			s := 0.0
			for j := int64(0); j < d; j++ {
				e := math.Exp(x.Float64At(int(at(j))) - mx)
				out[at(j)] = e
				s += e
			}
			for j := int64(0); j < d; j++ {
				out[at(j)] /= s
			}
		}
	}
	return []*tensor.Tensor{tensor.FromFloat64s(x.DType, x.Dims, out)}, nil
}

func evalClip(c *Ctx) ([]*tensor.Tensor, error) {
	if err := need(c, 1); err != nil {
		return nil, err
	}
	x := c.In[0]
	if !x.DType.IsFloat() {
		return nil, unsupported("Clip of %s", x.DType)
	}
	lo, hi := math.Inf(-1), math.Inf(1)
	for i, p := range []*float64{&lo, &hi} {
		if t := c.Input(i + 1); t != nil {
			if t.Len() != 1 || t.DType != x.DType {
				return nil, fmt.Errorf("bound %d must be one %s", i+1, x.DType)
			}
			*p = t.Float64At(0)
		}
	}
	out := make([]float64, x.Len())
	for i := range out {
		out[i] = math.Min(math.Max(x.Float64At(i), lo), hi)
	}
	return []*tensor.Tensor{tensor.FromFloat64s(x.DType, x.Dims, out)}, nil
}

func evalTrilu(c *Ctx) ([]*tensor.Tensor, error) {
	if err := need(c, 1); err != nil {
		return nil, err
	}
	x := c.In[0]
	if len(x.Dims) < 2 {
		return nil, fmt.Errorf("rank %d, want at least 2", len(x.Dims))
	}
	k := int64(0)
	if t := c.Input(1); t != nil {
		v, err := ints(t)
		if err != nil || len(v) != 1 {
			return nil, fmt.Errorf("k must be one integer")
		}
		k = v[0]
	}
	upper := c.Attrs.Int("upper", 1) != 0
	rows, cols := x.Dims[len(x.Dims)-2], x.Dims[len(x.Dims)-1]
	if err := c.roomDims("result", x.Dims, 16); err != nil {
		return nil, err
	}
	zero := tensor.New(x.DType, nil)
	both := concatFlat(x, zero)
	idx := make([]int64, x.Len())
	for i := range idx {
		j := int64(i) % cols
		r := (int64(i) / cols) % rows
		keep := j-r >= k
		if !upper {
			keep = j-r <= k
		}
		if keep {
			idx[i] = int64(i)
		} else {
			idx[i] = x.Len()
		}
	}
	return []*tensor.Tensor{pick(both, x.Dims, idx)}, nil
}
