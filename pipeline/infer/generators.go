// generators.go: operators that make new tensors: constants, ranges, one-hot
// and identity-like matrices, random values, windows and signal transforms.

package infer

import (
	"math"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/sym"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

var generatorOps = concatOps(
	forms("DFT", inferDFT, 17, 20), // 20: axis is an input, default -2
	[]Op{
		{Name: "RandomNormal", Since: 1, Rule: inferRandom},
		{Name: "RandomUniform", Since: 1, Rule: inferRandom},
		{Name: "RandomNormalLike", Since: 1, Rule: inferRandomLike},
		{Name: "RandomUniformLike", Since: 1, Rule: inferRandomLike},
		{Name: "Bernoulli", Since: 15, Rule: inferRandomLike},
		{Name: "Multinomial", Since: 7, Rule: inferMultinomial},
		{Name: "HannWindow", Since: 17, Rule: inferWindow},
		{Name: "HammingWindow", Since: 17, Rule: inferWindow},
		{Name: "BlackmanWindow", Since: 17, Rule: inferWindow},
		{Name: "MelWeightMatrix", Since: 17, Rule: inferMelWeightMatrix},
		{Name: "STFT", Since: 17, Rule: inferSTFT},
		{Name: "Constant", Since: 1, Rule: inferConstant},
		{Name: "ConstantOfShape", Since: 9, Rule: inferConstantOfShape},
		{Name: "Range", Since: 11, Rule: inferRange},
		{Name: "OneHot", Since: 9, Rule: inferOneHot},
		{Name: "EyeLike", Since: 9, Rule: inferEyeLike},
	},
	// Versions where ONNX changed the schema and the row before still holds.
	same("Bernoulli", whyNewTypes, 22),
	same("Constant", whyTypes, 9, 13),
	same("Constant", "sparse_value: the rule reads whichever value attribute a node has", 11),
	same("Constant", "the value_* attributes: the rule reads whichever value attribute a node has", 12),
	same("Constant", whyNewTypes, 19, 21, 23, 24, 25),
	same("ConstantOfShape", whyNewTypes, 20, 21, 23, 24, 25),
	same("EyeLike", whyNewTypes, 22),
	same("Multinomial", whyNewTypes, 22),
	same("OneHot", whyNegAxes, 11),
	same("RandomNormal", whyNewTypes, 22),
	same("RandomNormalLike", whyNewTypes, 22),
	same("RandomUniform", whyNewTypes, 22),
	same("RandomUniformLike", whyNewTypes, 22),
	same("Range", whyLater, 27),
)

func attrElem(c *Context, name string, def tensor.DType) tensor.DType {
	if c.Attrs().Has(name) {
		return tensor.DType(c.Attrs().Int(name, int64(def)))
	}
	return def
}

func inferRandom(c *Context) error {
	sh, ok := c.Attrs().Ints("shape")
	if !ok {
		return c.Failf("no shape attribute")
	}
	c.SetTensor(0, attrElem(c, "dtype", tensor.Float), ints(sh...))
	return nil
}

func inferRandomLike(c *Context) error {
	t := c.Type(0)
	t.Elem = attrElem(c, "dtype", t.Elem)
	c.SetType(0, t)
	return nil
}

func inferMultinomial(c *Context) error {
	sh, ok := c.Shape(0)
	elem := attrElem(c, "dtype", tensor.Int32)
	if !ok || len(sh) != 2 {
		c.SetElem(0, elem)
		return nil
	}
	c.SetTensor(0, elem, []sym.Dim{sh[0], sym.Int(c.Attrs().Int("sample_size", 1))})
	return nil
}

func inferWindow(c *Context) error {
	elem := attrElem(c, "output_datatype", tensor.Float)
	if v, ok := c.Values(0); ok && len(v) == 1 {
		c.SetTensor(0, elem, []sym.Dim{c.orNew(v[0])})
		return nil
	}
	c.SetRank(0, elem, 1)
	return nil
}

func inferMelWeightMatrix(c *Context) error {
	elem := attrElem(c, "output_datatype", tensor.Float)
	bins, ok1 := c.Values(1)
	mels, ok2 := c.Values(0)
	if !ok1 || !ok2 || len(bins) != 1 || len(mels) != 1 {
		c.SetRank(0, elem, 2)
		return nil
	}
	c.SetTensor(0, elem, []sym.Dim{c.orNew(sym.Add(sym.FloorDiv(bins[0], sym.Int(2)), sym.Int(1))), c.orNew(mels[0])})
	return nil
}

func inferDFT(c *Context, form int64) error {
	sh, ok := c.Shape(0)
	if !ok {
		c.SetElem(0, c.Elem(0))
		return nil
	}
	r := len(sh)
	var axis int64 = 1
	if form >= 20 {
		axis = -2
		if c.HasInput(2) {
			a, ok := c.Ints(2)
			if !ok || len(a) != 1 {
				c.SetRank(0, c.Elem(0), r)
				return nil
			}
			axis = a[0]
		}
	} else {
		axis = c.Attrs().Int("axis", 1)
	}
	ax, err := tensor.NormAxis(axis, r)
	if err != nil {
		return err
	}
	n := sh[ax]
	if c.HasInput(1) {
		if v, ok := c.Values(1); ok && len(v) == 1 {
			n = c.orNew(v[0])
		} else {
			n = c.NewDim()
		}
	}
	if c.Attrs().Int("onesided", 0) != 0 {
		n = c.orNew(sym.Add(sym.FloorDiv(n, sym.Int(2)), sym.Int(1)))
	}
	sh[ax] = n
	sh[r-1] = sym.Int(2)
	c.SetTensor(0, c.Elem(0), sh)
	return nil
}

func inferSTFT(c *Context) error {
	sh, ok := c.Shape(0)
	if !ok || len(sh) != 3 {
		c.SetRank(0, c.Elem(0), 4)
		return nil
	}
	// The frame length is input 3, else the window's length.
	length := sym.Unknown()
	if c.HasInput(3) {
		if v, ok := c.Values(3); ok && len(v) == 1 {
			length = v[0]
		}
	} else if w, ok := c.Shape(2); ok && c.HasInput(2) && len(w) == 1 {
		length = w[0]
	}
	frames, bins := sym.Unknown(), sym.Unknown()
	if !length.IsUnknown() {
		if step, ok := c.Values(1); ok && len(step) == 1 && !step[0].IsUnknown() {
			frames = sym.Add(sym.FloorDiv(sym.Sub(sh[1], length), step[0]), sym.Int(1))
		}
		bins = length
		if c.Attrs().Int("onesided", 1) != 0 {
			bins = sym.Add(sym.FloorDiv(length, sym.Int(2)), sym.Int(1))
		}
	}
	c.SetTensor(0, c.Elem(0), []sym.Dim{sh[0], c.orNew(frames), c.orNew(bins), sym.Int(2)})
	return nil
}

func inferConstant(c *Context) error {
	if t := c.Attrs().Tensor("value"); t != nil {
		c.setConst(0, t)
		return nil
	}
	name := func(s string) *string { return &s }
	for _, a := range c.n.GetAttribute() {
		var tp *onnxpb.TensorProto
		switch a.GetName() {
		case "value_int":
			tp = tensor.FromInt64s(nil, []int64{a.GetI()}).Proto("")
		case "value_ints":
			tp = tensor.FromInt64s([]int64{int64(len(a.GetInts()))}, append([]int64{}, a.GetInts()...)).Proto("")
		case "value_float":
			tp = tensor.FromFloat32s(nil, []float32{a.GetF()}).Proto("")
		case "value_floats":
			tp = tensor.FromFloat32s([]int64{int64(len(a.GetFloats()))}, append([]float32{}, a.GetFloats()...)).Proto("")
		case "value_string":
			c.SetTensor(0, tensor.String, nil)
			return nil
		case "value_strings":
			c.SetTensor(0, tensor.String, ints(int64(len(a.GetStrings()))))
			return nil
		case "sparse_value":
			st := a.GetSparseTensor()
			c.SetTensor(0, tensor.DType(st.GetValues().GetDataType()), ints(st.GetDims()...))
			return nil
		}
		if tp != nil {
			tp.Name = name(c.n.GetOutput()[0])
			c.setConst(0, tp)
			return nil
		}
	}
	return c.Failf("Constant without a value")
}

func inferConstantOfShape(c *Context) error {
	elem, fill := tensor.Float, int64(0)
	if t := c.Attrs().Tensor("value"); t != nil {
		elem = tensor.DType(t.GetDataType())
		if v, err := tensor.Decode(t, nil); err == nil && len(v.I64) == 1 {
			fill = v.I64[0]
		}
	}
	vals, ok := c.Values(0)
	if !ok {
		if n, ok := c.Shape(0); ok && len(n) == 1 {
			if r, ok := n[0].Value(); ok {
				c.SetRank(0, elem, int(r))
				return nil
			}
		}
		c.SetElem(0, elem)
		return nil
	}
	sh := make([]sym.Dim, len(vals))
	for i, d := range vals {
		sh[i] = c.orNew(d)
	}
	c.SetTensor(0, elem, sh)
	if st, ok := staticShape(sh); elem.IsInt() && ok && numel(st) >= 0 {
		out := make([]sym.Dim, numel(st))
		for i := range out {
			out[i] = sym.Int(fill)
		}
		c.SetValues(0, out)
	}
	return nil
}

func inferRange(c *Context) error {
	elem := c.Elem(0)
	start, ok1 := c.Values(0)
	limit, ok2 := c.Values(1)
	delta, ok3 := c.Values(2)
	if !ok1 || !ok2 || !ok3 || len(start) != 1 || len(limit) != 1 || len(delta) != 1 || floatPrec(elem) != 0 {
		if f0, ok := c.Floats(0); ok && len(f0) == 1 {
			if f1, ok := c.Floats(1); ok && len(f1) == 1 {
				if f2, ok := c.Floats(2); ok && len(f2) == 1 && f2[0] != 0 {
					n := max(0, math.Ceil((f1[0]-f0[0])/f2[0]))
					c.SetTensor(0, elem, ints(clampInt64(n)))
					return nil
				}
			}
		}
		c.SetRank(0, elem, 1)
		return nil
	}
	s, l, d := start[0], limit[0], delta[0]
	dv, ok := d.Value()
	var n sym.Dim
	switch {
	case !ok || dv == 0:
		n = sym.Unknown()
	case dv > 0:
		n = sym.CeilDiv(sym.Sub(l, s), d)
	default:
		n = sym.CeilDiv(sym.Sub(s, l), sym.Int(-dv))
	}
	n = c.orNew(sym.Max(sym.Int(0), n))
	c.SetTensor(0, elem, []sym.Dim{n})
	if v, ok := n.Value(); ok && v <= maxValues && elem.IsInt() {
		vals := make([]sym.Dim, v)
		for i := range vals {
			vals[i] = sym.Add(s, sym.Mul(d, sym.Int(int64(i))))
		}
		c.SetValues(0, vals)
	}
	return nil
}

func inferOneHot(c *Context) error {
	elem := c.Elem(2)
	sh, ok := c.Shape(0)
	if !ok {
		c.SetElem(0, elem)
		return nil
	}
	depth := c.NewDim()
	if f, ok := c.Floats(1); ok && len(f) == 1 {
		depth = sym.Int(int64(f[0]))
	} else if v, ok := c.Values(1); ok && len(v) == 1 {
		depth = c.orNew(v[0])
	}
	r := len(sh) + 1
	axis, err := tensor.NormAxis(c.Attrs().Int("axis", -1), r)
	if err != nil {
		return err
	}
	out := append(append(append([]sym.Dim{}, sh[:axis]...), depth), sh[axis:]...)
	c.SetTensor(0, elem, out)
	return nil
}

func inferEyeLike(c *Context) error {
	elem := c.Elem(0)
	if c.Attrs().Has("dtype") {
		elem = tensor.DType(c.Attrs().Int("dtype", 0))
	}
	sh, ok := c.Shape(0)
	if !ok {
		c.SetElem(0, elem)
		return nil
	}
	c.SetTensor(0, elem, sh)
	return nil
}
