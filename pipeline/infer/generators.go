// generators.go: operators that make new tensors: random values, windows and
// signal transforms.

package infer

import (
	"github.com/quantprep/quantprep/pipeline/sym"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

var generatorOps = []Op{
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
	{Name: "DFT", Since: 17, Rule: inferDFT},
	{Name: "STFT", Since: 17, Rule: inferSTFT},
}

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

func inferDFT(c *Context) error {
	sh, ok := c.Shape(0)
	if !ok {
		c.SetElem(0, c.Elem(0))
		return nil
	}
	r := len(sh)
	var axis int64 = 1
	if c.Opset() >= 20 {
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
