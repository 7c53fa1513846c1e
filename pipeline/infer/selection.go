// selection.go: operators whose output size depends on the data: the
// elements they select (NonZero, Compress, Unique) or the k best (TopK).

package infer

import (
	"github.com/quantprep/quantprep/pipeline/sym"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

var selectionOps = concatOps(
	forms("TopK", inferTopK, 1, 10), // 10: k is an input
	[]Op{
		{Name: "NonZero", Since: 9, Rule: inferNonZero},
		{Name: "Compress", Since: 9, Rule: inferCompress},
		{Name: "Unique", Since: 11, Rule: inferUnique},
	},
	// Versions where ONNX changed the schema and the row before still holds.
	same("Compress", whyNegAxes, 11),
	same("NonZero", whyTypes, 13),
	same("TopK", "largest and sorted change values, not the shape", 11),
	same("TopK", whyNewTypes, 24),
)

func inferNonZero(c *Context) error {
	r, ok := c.Rank(0)
	if !ok {
		c.SetElem(0, tensor.Int64)
		return nil
	}
	n := c.NewDim()
	if t, ok := c.Const(0); ok {
		// A constant input: count its nonzero elements.
		k := int64(0)
		for i := 0; i < int(t.Len()); i++ {
			if t.Str == nil && t.Float64At(i) != 0 {
				k++
			}
		}
		if t.Str == nil {
			n = sym.Int(k)
		}
	}
	c.SetTensor(0, tensor.Int64, []sym.Dim{sym.Int(int64(r)), n})
	return nil
}

func inferCompress(c *Context) error {
	elem := c.Elem(0)
	sh, ok := c.Shape(0)
	if !ok {
		c.SetElem(0, elem)
		return nil
	}
	if !c.Attrs().Has("axis") {
		c.SetTensor(0, elem, []sym.Dim{c.NewDim()})
		return nil
	}
	axis, err := tensor.NormAxis(c.Attrs().Int("axis", 0), len(sh))
	if err != nil {
		return err
	}
	sh[axis] = c.NewDim()
	c.SetTensor(0, elem, sh)
	return nil
}

func inferTopK(c *Context, form int64) error {
	elem := c.Elem(0)
	sh, ok := c.Shape(0)
	if !ok {
		c.SetElem(0, elem)
		c.SetElem(1, tensor.Int64)
		return nil
	}
	axis, err := tensor.NormAxis(c.Attrs().Int("axis", -1), len(sh))
	if err != nil {
		return err
	}
	if form < 10 {
		sh[axis] = sym.Int(c.Attrs().Int("k", 0))
	} else if v, ok := c.Values(1); ok && len(v) == 1 {
		sh[axis] = c.orNew(v[0])
	} else {
		sh[axis] = c.NewDim()
	}
	c.SetTensor(0, elem, sh)
	c.SetTensor(1, tensor.Int64, sh)
	return nil
}

func inferUnique(c *Context) error {
	elem := c.Elem(0)
	n := c.NewDim()
	sh, ok := c.Shape(0)
	if c.Attrs().Has("axis") && ok {
		axis, err := tensor.NormAxis(c.Attrs().Int("axis", 0), len(sh))
		if err != nil {
			return err
		}
		sh[axis] = n
		c.SetTensor(0, elem, sh)
	} else {
		c.SetTensor(0, elem, []sym.Dim{n})
	}
	c.SetTensor(1, tensor.Int64, []sym.Dim{n})
	if ok {
		if c.Attrs().Has("axis") {
			axis, _ := tensor.NormAxis(c.Attrs().Int("axis", 0), len(sh))
			orig, _ := c.Shape(0)
			c.SetTensor(2, tensor.Int64, []sym.Dim{orig[axis]})
		} else {
			c.SetTensor(2, tensor.Int64, []sym.Dim{prod(sh)})
		}
	} else {
		c.SetTensor(2, tensor.Int64, []sym.Dim{c.NewDim()})
	}
	c.SetTensor(3, tensor.Int64, []sym.Dim{n})
	return nil
}
