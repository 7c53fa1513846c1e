package eval

import (
	"fmt"
	"math"

	"github.com/quantprep/quantprep/pipeline/opset"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// convPoolOps: convolution and pooling on float tensors (NC... layout),
// computed directly from their definitions.
var convPoolOps = opset.Join(
	[]Op{
		{Name: "Conv", Since: 1, Rule: evalConv},
		{Name: "MaxPool", Since: 8, Rule: evalMaxPool},
		{Name: "GlobalAveragePool", Since: 1, Rule: evalGlobalAveragePool},
	},
	// Versions where ONNX changed the schema and the row before still holds.
	same("Conv", whyDoc, 11),
	same("Conv", whyNewTypes, 22),
	same("GlobalAveragePool", whyNewTypes, 22),
	same("MaxPool", "ceil_mode and dilations: the kernel reads them at every version (absent before 10: floor, 1)", 10),
	same("MaxPool", whyDoc, 11),
	same("MaxPool", whyTypes, 12),
	same("MaxPool", whyNewTypes, 22),
)

// window describes a convolution or pooling window over the spatial axes.
type window struct {
	kernel, strides, dilations, padBegin []int64
	out                                  []int64
}

func newWindow(c *Ctx, spatial, kernel []int64) (*window, error) {
	r := len(spatial)
	w := &window{kernel: kernel, strides: ones(r), dilations: ones(r), padBegin: make([]int64, r), out: make([]int64, r)}
	if v, ok := c.Attrs.Ints("strides"); ok && len(v) == r {
		w.strides = v
	}
	if v, ok := c.Attrs.Ints("dilations"); ok && len(v) == r {
		w.dilations = v
	}
	pads := make([]int64, 2*r)
	if v, ok := c.Attrs.Ints("pads"); ok && len(v) == 2*r {
		pads = v
	}
	auto := c.Attrs.String("auto_pad", "NOTSET")
	ceil := c.Attrs.Int("ceil_mode", 0) != 0
	for i := 0; i < r; i++ {
		ext := (kernel[i]-1)*w.dilations[i] + 1
		switch auto {
		case "NOTSET", "VALID":
			if auto == "VALID" {
				pads[i], pads[i+r] = 0, 0
			}
			span := spatial[i] + pads[i] + pads[i+r] - ext
			if span < 0 {
				return nil, fmt.Errorf("window larger than input")
			}
			if ceil {
				w.out[i] = (span+w.strides[i]-1)/w.strides[i] + 1
			} else {
				w.out[i] = span/w.strides[i] + 1
			}
		case "SAME_UPPER", "SAME_LOWER":
			w.out[i] = (spatial[i] + w.strides[i] - 1) / w.strides[i]
			total := max(0, (w.out[i]-1)*w.strides[i]+ext-spatial[i])
			pads[i] = total / 2
			if auto == "SAME_LOWER" {
				pads[i] = total - total/2
			}
		default:
			return nil, unsupported("auto_pad %q", auto)
		}
		w.padBegin[i] = pads[i]
	}
	return w, nil
}

func ones(n int) []int64 {
	v := make([]int64, n)
	for i := range v {
		v[i] = 1
	}
	return v
}

// visit calls f with the flat spatial input offset of every in-bounds window
// tap of output position o (a spatial multi-index), and the tap's kernel
// offset.
func (w *window) visit(spatial []int64, o []int64, f func(in, k int64)) {
	r := len(spatial)
	ist, kst := strides(spatial), strides(w.kernel)
	forEachIndex(w.kernel, func(kx []int64) {
		in, kk := int64(0), int64(0)
		for i := 0; i < r; i++ {
			p := o[i]*w.strides[i] - w.padBegin[i] + kx[i]*w.dilations[i]
			if p < 0 || p >= spatial[i] {
				return
			}
			in += p * ist[i]
			kk += kx[i] * kst[i]
		}
		f(in, kk)
	})
}

func evalConv(c *Ctx) ([]*tensor.Tensor, error) {
	if err := need(c, 2); err != nil {
		return nil, err
	}
	x, wt := c.In[0], c.In[1]
	if !x.DType.IsFloat() || x.DType != wt.DType || len(x.Dims) < 3 || len(wt.Dims) != len(x.Dims) {
		return nil, unsupported("Conv of %s%v with %s%v", x.DType, x.Dims, wt.DType, wt.Dims)
	}
	group := c.Attrs.Int("group", 1)
	n, ci, m, cpg := x.Dims[0], x.Dims[1], wt.Dims[0], wt.Dims[1]
	if group <= 0 || ci != cpg*group || m%group != 0 {
		return nil, fmt.Errorf("channels %d, weight %v and group %d disagree", ci, wt.Dims, group)
	}
	spatial := x.Dims[2:]
	w, err := newWindow(c, spatial, wt.Dims[2:])
	if err != nil {
		return nil, err
	}
	// A tap costs about four multiply-adds of MatMul (a closure, bounds).
	if err := work("Conv", mulAll(4, n, m, tensor.NumElements(w.out), max(cpg, 1), max(tensor.NumElements(wt.Dims[2:]), 1))); err != nil {
		return nil, err
	}
	bias := c.Input(2)
	if bias != nil && (bias.DType != x.DType || bias.Len() != m) {
		return nil, fmt.Errorf("bias %s%v for %d output channels", bias.DType, bias.Dims, m)
	}
	dims := append([]int64{n, m}, w.out...)
	if err := c.roomDims("convolution", dims, 16); err != nil {
		return nil, err
	}
	out := make([]float64, tensor.NumElements(dims))
	ssz, ksz := tensor.NumElements(spatial), tensor.NumElements(wt.Dims[2:])
	mpg := m / group
	i := 0
	for b := int64(0); b < n; b++ {
		for oc := int64(0); oc < m; oc++ {
			g := oc / mpg
			forEachIndex(w.out, func(o []int64) {
				s := 0.0
				if bias != nil {
					s = bias.Float64At(int(oc))
				}
				for icg := int64(0); icg < cpg; icg++ {
					ic := g*cpg + icg
					xo, wo := (b*ci+ic)*ssz, (oc*cpg+icg)*ksz
					w.visit(spatial, o, func(in, k int64) {
						s += x.Float64At(int(xo+in)) * wt.Float64At(int(wo+k))
					})
				}
				out[i] = s
				i++
			})
		}
	}
	return []*tensor.Tensor{tensor.FromFloat64s(x.DType, dims, out)}, nil
}

func evalMaxPool(c *Ctx) ([]*tensor.Tensor, error) {
	if err := need(c, 1); err != nil {
		return nil, err
	}
	x := c.In[0]
	if c.NumOutputs > 1 || !x.DType.IsFloat() || len(x.Dims) < 3 || c.Attrs.Int("storage_order", 0) != 0 {
		return nil, unsupported("MaxPool with indices or of %s%v", x.DType, x.Dims)
	}
	kernel, _ := c.Attrs.Ints("kernel_shape")
	spatial := x.Dims[2:]
	if len(kernel) != len(spatial) {
		return nil, fmt.Errorf("kernel_shape %v for input %v", kernel, x.Dims)
	}
	w, err := newWindow(c, spatial, kernel)
	if err != nil {
		return nil, err
	}
	dims := append([]int64{x.Dims[0], x.Dims[1]}, w.out...)
	if err := work("MaxPool", mulAll(4, tensor.NumElements(dims), max(tensor.NumElements(kernel), 1))); err != nil {
		return nil, err
	}
	if err := c.roomDims("pooled result", dims, 16); err != nil {
		return nil, err
	}
	out := make([]float64, 0, tensor.NumElements(dims))
	ssz := tensor.NumElements(spatial)
	for p := int64(0); p < x.Dims[0]*x.Dims[1]; p++ {
		forEachIndex(w.out, func(o []int64) {
			best := math.Inf(-1)
			w.visit(spatial, o, func(in, _ int64) { best = math.Max(best, x.Float64At(int(p*ssz+in))) })
			out = append(out, best)
		})
	}
	return []*tensor.Tensor{tensor.FromFloat64s(x.DType, dims, out)}, nil
}

func evalGlobalAveragePool(c *Ctx) ([]*tensor.Tensor, error) {
	if err := need(c, 1); err != nil {
		return nil, err
	}
	x := c.In[0]
	if !x.DType.IsFloat() || len(x.Dims) < 3 {
		return nil, unsupported("GlobalAveragePool of %s%v", x.DType, x.Dims)
	}
	ssz := tensor.NumElements(x.Dims[2:])
	dims := []int64{x.Dims[0], x.Dims[1]}
	for range x.Dims[2:] {
		dims = append(dims, 1)
	}
	// An empty input ([2^40, 2^40, 0]) can have a huge result.
	if err := c.roomDims("pooled result", dims, 16); err != nil {
		return nil, err
	}
	out := make([]float64, x.Dims[0]*x.Dims[1])
	for p := range out {
		s := 0.0
		for i := int64(0); i < ssz; i++ {
			s += x.Float64At(int(int64(p)*ssz + i))
		}
		out[p] = s / float64(ssz)
	}
	return []*tensor.Tensor{tensor.FromFloat64s(x.DType, dims, out)}, nil
}
