// image.go: operators on images and boxes: resizing, region pooling,
// sampling, box selection, cropping.

package infer

import (
	"math"

	"github.com/quantprep/quantprep/pipeline/sym"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

var imageOps = concatOps(
	// 11: roi, scales and sizes inputs; 18: axes, keep_aspect_ratio_policy.
	forms("Resize", inferResize, 10, 11, 18),
	forms("Upsample", inferResize, 7, 9), // 7: a scales attribute; 9: a scales input
	[]Op{
		{Name: "RoiAlign", Since: 10, Rule: inferRoiAlign},
		{Name: "MaxRoiPool", Since: 1, Rule: inferMaxRoiPool},
		{Name: "NonMaxSuppression", Since: 10, Rule: inferNMS},
		{Name: "GridSample", Since: 16, Rule: inferGridSample},
		{Name: "AffineGrid", Since: 20, Rule: inferAffineGrid},
		{Name: "Col2Im", Since: 18, Rule: inferCol2Im},
		{Name: "CenterCropPad", Since: 18, Rule: inferCenterCropPad},
		{Name: "MaxUnpool", Since: 9, Rule: inferMaxUnpool},
		{Name: "DeformConv", Since: 19, Rule: inferConv(0, 1, 0)},
		{Name: "ImageDecoder", Since: 20, Rule: inferImageDecoder},
		{Name: "Upsample", Since: 1, Rule: inferUpsample1}, // height_scale, width_scale
	},
	// Versions where ONNX changed the schema and the row before still holds.
	same("DeformConv", whyNewTypes, 22),
	same("GridSample", "N-d grids: the rule takes the output's spatial dims from the grid at every version", 20),
	same("GridSample", whyNewTypes, 22),
	same("MaxRoiPool", whyNewTypes, 22),
	same("MaxUnpool", whyDoc, 11),
	same("MaxUnpool", whyNewTypes, 22),
	same("NonMaxSuppression", whyDoc, 11),
	same("Resize", "roi and scales became optional: the rule reads whichever of scales and sizes is given", 13),
	same("Resize", "half_pixel_symmetric changes coordinates, not the shape", 19),
	same("RoiAlign", "coordinate_transformation_mode changes values, not the shape", 16),
	same("RoiAlign", whyNewTypes, 22),
	same("Upsample", whyDoc, 10),
)

// inferImageDecoder: an HWC uint8 image whose height and width are in the
// encoded bytes; the channels follow pixel_format.
func inferImageDecoder(c *Context) error {
	ch := int64(3)
	switch f := c.Attrs().String("pixel_format", "RGB"); f {
	case "RGB", "BGR":
	case "Grayscale":
		ch = 1
	default:
		return c.Failf("ImageDecoder pixel_format %q", f)
	}
	c.SetTensor(0, tensor.Uint8, []sym.Dim{c.NewDim(), c.NewDim(), sym.Int(ch)})
	return nil
}

func inferRoiAlign(c *Context) error {
	x, ok1 := c.Shape(0)
	r, ok2 := c.Shape(1)
	if !ok1 || !ok2 || len(x) != 4 || len(r) != 2 {
		c.SetRank(0, c.Elem(0), 4)
		return nil
	}
	c.SetTensor(0, c.Elem(0), []sym.Dim{r[0], x[1], sym.Int(c.Attrs().Int("output_height", 1)), sym.Int(c.Attrs().Int("output_width", 1))})
	return nil
}

func inferMaxRoiPool(c *Context) error {
	x, ok1 := c.Shape(0)
	r, ok2 := c.Shape(1)
	p, ok3 := c.Attrs().Ints("pooled_shape")
	if !ok1 || !ok2 || !ok3 || len(x) != 4 || len(r) != 2 || len(p) != 2 {
		c.SetRank(0, c.Elem(0), 4)
		return nil
	}
	c.SetTensor(0, c.Elem(0), []sym.Dim{r[0], x[1], sym.Int(p[0]), sym.Int(p[1])})
	return nil
}

func inferNMS(c *Context) error {
	c.SetTensor(0, tensor.Int64, []sym.Dim{c.NewDim(), sym.Int(3)})
	return nil
}

func inferGridSample(c *Context) error {
	x, ok1 := c.Shape(0)
	g, ok2 := c.Shape(1)
	if !ok1 || !ok2 || len(g) != len(x) || len(x) < 3 {
		c.SetElem(0, c.Elem(0))
		return nil
	}
	out := append([]sym.Dim{x[0], x[1]}, g[1:len(g)-1]...)
	c.SetTensor(0, c.Elem(0), out)
	return nil
}

func inferAffineGrid(c *Context) error {
	size, ok := c.Values(1)
	if !ok || len(size) < 3 {
		c.SetElem(0, c.Elem(0))
		return nil
	}
	out := []sym.Dim{c.orNew(size[0])}
	for _, d := range size[2:] {
		out = append(out, c.orNew(d))
	}
	out = append(out, sym.Int(int64(len(size)-2)))
	c.SetTensor(0, c.Elem(0), out)
	return nil
}

func inferCol2Im(c *Context) error {
	x, ok1 := c.Shape(0)
	img, ok2 := c.Values(1)
	blk, ok3 := c.Values(2)
	if !ok1 || !ok2 || !ok3 || len(x) != 3 {
		c.SetElem(0, c.Elem(0))
		return nil
	}
	out := []sym.Dim{x[0], c.orNew(sym.FloorDiv(x[1], prod(blk)))}
	for _, d := range img {
		out = append(out, c.orNew(d))
	}
	c.SetTensor(0, c.Elem(0), out)
	return nil
}

func inferCenterCropPad(c *Context) error {
	sh, ok := c.Shape(0)
	size, ok2 := c.Values(1)
	if !ok || !ok2 {
		c.SetElem(0, c.Elem(0))
		return nil
	}
	axes, has := c.Attrs().Ints("axes")
	if !has {
		axes = make([]int64, len(sh))
		for i := range axes {
			axes[i] = int64(i)
		}
	}
	if len(axes) != len(size) {
		return c.Failf("CenterCropPad has %d sizes for %d axes", len(size), len(axes))
	}
	for i, a := range axes {
		ax, err := tensor.NormAxis(a, len(sh))
		if err != nil {
			return err
		}
		sh[ax] = c.orNew(size[i])
	}
	c.SetTensor(0, c.Elem(0), sh)
	return nil
}

func inferMaxUnpool(c *Context) error {
	if c.HasInput(2) {
		if v, ok := c.Values(2); ok {
			out := make([]sym.Dim, len(v))
			for i, d := range v {
				out[i] = c.orNew(d)
			}
			c.SetTensor(0, c.Elem(0), out)
			return nil
		}
		if n, ok := c.Shape(2); ok && len(n) == 1 && n[0].IsKnown() {
			r, _ := n[0].Value()
			c.SetRank(0, c.Elem(0), int(r))
			return nil
		}
		c.SetElem(0, c.Elem(0))
		return nil
	}
	x, ok := c.Shape(0)
	kernel, has := c.Attrs().Ints("kernel_shape")
	if !ok || !has || len(kernel) != len(x)-2 {
		c.SetElem(0, c.Elem(0))
		return nil
	}
	win, err := readWindow(c, kernel)
	if err != nil {
		return err
	}
	out := []sym.Dim{x[0], x[1]}
	for i := range kernel {
		d := sym.Add(sym.Mul(sym.Sub(x[2+i], sym.Int(1)), sym.Int(win.strides[i])), sym.Int(kernel[i]-win.pads[i]-win.pads[i+len(kernel)]))
		out = append(out, d)
	}
	c.SetTensor(0, c.Elem(0), out)
	return nil
}

// resizeKeepAspect is Resize 18's sizes with keep_aspect_ratio_policy
// not_larger or not_smaller: one scale, the smallest or largest of
// sizes[i]/in[d], for every resized axis, and out = round_int(scale*in)
// (halves up), computed on integers so that no float rounding creeps in.
func resizeKeepAspect(c *Context, elem tensor.DType, sh, sizes []sym.Dim, axes []int64, has bool, policy string) error {
	if policy != "not_larger" && policy != "not_smaller" {
		return c.Failf("Resize keep_aspect_ratio_policy %q", policy)
	}
	if !has {
		axes = make([]int64, len(sh))
		for i := range axes {
			axes[i] = int64(i)
		}
	}
	if len(axes) != len(sizes) {
		return c.Failf("Resize has %d sizes for %d axes", len(sizes), len(axes))
	}
	ins := make([]int64, len(axes))
	outs := make([]int64, len(axes))
	num, den := int64(-1), int64(1) // the chosen scale num/den
	for i, a := range axes {
		ax, err := tensor.NormAxis(a, len(sh))
		if err != nil {
			return err
		}
		axes[i] = int64(ax)
		in, ok1 := sh[ax].Value()
		sz, ok2 := sizes[i].Value()
		if !ok1 || !ok2 || in <= 0 || sz < 0 {
			c.SetRank(0, elem, len(sh))
			return nil
		}
		ins[i] = in
		// sz/in against num/den by cross-multiplication.
		if num < 0 || (policy == "not_larger") == (sz*den < num*in) {
			num, den = sz, in
		}
	}
	for i := range axes {
		outs[i] = (2*num*ins[i] + den) / (2 * den)
		sh[axes[i]] = sym.Int(outs[i])
	}
	c.SetTensor(0, elem, sh)
	return nil
}

func inferResize(c *Context, form int64) error {
	elem := c.Elem(0)
	sh, ok := c.Shape(0)
	if !ok {
		c.SetElem(0, elem)
		return nil
	}
	scalesIn, sizesIn := 1, -1
	switch {
	case c.OpType() == "Upsample" && form < 9:
		scalesIn = -1
	case c.OpType() == "Resize" && form >= 11:
		scalesIn, sizesIn = 2, 3
	}
	if sizesIn >= 0 && c.HasInput(sizesIn) {
		if v, ok := c.Values(sizesIn); ok {
			axes, has := c.Attrs().Ints("axes")
			if policy := c.Attrs().String("keep_aspect_ratio_policy", "stretch"); policy != "stretch" && form >= 18 {
				return resizeKeepAspect(c, elem, sh, v, axes, has, policy)
			}
			if !has && len(v) == len(sh) {
				for i := range sh {
					sh[i] = c.orNew(v[i])
				}
				c.SetTensor(0, elem, sh)
				return nil
			}
			if has && len(axes) == len(v) && c.Attrs().String("keep_aspect_ratio_policy", "stretch") == "stretch" {
				for i, a := range axes {
					ax, err := tensor.NormAxis(a, len(sh))
					if err != nil {
						return err
					}
					sh[ax] = c.orNew(v[i])
				}
				c.SetTensor(0, elem, sh)
				return nil
			}
		}
		c.SetRank(0, elem, len(sh))
		return nil
	}
	var scales []float64
	if scalesIn < 0 {
		f, _ := c.Attrs().Floats("scales")
		for _, x := range f {
			scales = append(scales, float64(x))
		}
	} else if f, ok := c.Floats(scalesIn); ok && c.HasInput(scalesIn) {
		scales = f
	}
	axes, has := c.Attrs().Ints("axes")
	if !has {
		axes = make([]int64, len(scales))
		for i := range axes {
			axes[i] = int64(i)
		}
	}
	if len(scales) != len(axes) || len(scales) == 0 {
		c.SetRank(0, elem, len(sh))
		return nil
	}
	for i, a := range axes {
		ax, err := tensor.NormAxis(a, len(sh))
		if err != nil {
			return err
		}
		s := scales[i]
		if v, ok := sh[ax].Value(); ok {
			sh[ax] = sym.Int(int64(math.Floor(float64(v) * s)))
		} else if s == math.Trunc(s) && s >= 0 {
			sh[ax] = sym.Mul(sh[ax], sym.Int(int64(s)))
		} else {
			sh[ax] = c.NewDim()
		}
	}
	c.SetTensor(0, elem, sh)
	return nil
}

func inferUpsample1(c *Context) error {
	sh, ok := c.Shape(0)
	if !ok || len(sh) != 4 {
		c.SetElem(0, c.Elem(0))
		return nil
	}
	for i, name := range []string{"height_scale", "width_scale"} {
		s := float64(c.Attrs().Float(name, 1))
		if v, ok := sh[2+i].Value(); ok {
			sh[2+i] = sym.Int(int64(math.Floor(float64(v) * s)))
		} else if s == math.Trunc(s) {
			sh[2+i] = sym.Mul(sh[2+i], sym.Int(int64(s)))
		} else {
			sh[2+i] = c.NewDim()
		}
	}
	c.SetTensor(0, c.Elem(0), sh)
	return nil
}
