package eval

import (
	"fmt"

	"github.com/quantprep/quantprep/pipeline/opset"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// matmulOps: matrix products on float tensors, accumulated in float64.
var matmulOps = opset.Join(
	[]Op{
		{Name: "MatMul", Since: 1, Rule: evalMatMul},
		{Name: "Gemm", Since: 7, Rule: evalGemm},
	},
	// Versions where ONNX changed the schema and the row before still holds.
	same("Gemm", whyTypes, 9, 13),
	same("Gemm", "C became optional: the kernel treats a missing C as zero at every version", 11),
	same("MatMul", whyTypes, 9, 13),
)

func evalMatMul(c *Ctx) ([]*tensor.Tensor, error) {
	if err := need(c, 2); err != nil {
		return nil, err
	}
	a, b := c.In[0], c.In[1]
	if !a.DType.IsFloat() || a.DType != b.DType {
		return nil, unsupported("MatMul of %s and %s", a.DType, b.DType)
	}
	ad, bd := append([]int64{}, a.Dims...), append([]int64{}, b.Dims...)
	if len(ad) == 0 || len(bd) == 0 {
		return nil, fmt.Errorf("scalar operand")
	}
	// Rank-1 operands are promoted and the added axis dropped afterwards.
	if len(ad) == 1 {
		ad = []int64{1, ad[0]}
	}
	if len(bd) == 1 {
		bd = []int64{bd[0], 1}
	}
	m, k, k2, n := ad[len(ad)-2], ad[len(ad)-1], bd[len(bd)-2], bd[len(bd)-1]
	if k != k2 {
		return nil, fmt.Errorf("inner dims %d and %d differ", k, k2)
	}
	batch, err := broadcastDims(ad[:len(ad)-2], bd[:len(bd)-2])
	if err != nil {
		return nil, err
	}
	if err := work("MatMul", mulAll(tensor.NumElements(batch), m, n, max(k, 1))); err != nil {
		return nil, err
	}
	dims := append(append([]int64{}, batch...), m, n)
	if err := c.roomDims("product", dims, 24); err != nil {
		return nil, err
	}
	ia := broadcastIndex(ad[:len(ad)-2], batch)
	ib := broadcastIndex(bd[:len(bd)-2], batch)
	out := make([]float64, tensor.NumElements(dims))
	for bi := range ia {
		ao, bo, oo := ia[bi]*m*k, ib[bi]*k*n, int64(bi)*m*n
		for i := int64(0); i < m; i++ {
			for j := int64(0); j < n; j++ {
				s := 0.0
				for p := int64(0); p < k; p++ {
					s += a.Float64At(int(ao+i*k+p)) * b.Float64At(int(bo+p*n+j))
				}
				out[oo+i*n+j] = s
			}
		}
	}
	switch {
	case len(a.Dims) == 1 && len(b.Dims) == 1:
		dims = dims[:len(dims)-2]
	case len(a.Dims) == 1:
		dims = append(dims[:len(dims)-2], n)
	case len(b.Dims) == 1:
		dims = dims[:len(dims)-1]
	}
	return []*tensor.Tensor{tensor.FromFloat64s(a.DType, dims, out)}, nil
}

func evalGemm(c *Ctx) ([]*tensor.Tensor, error) {
	if err := need(c, 2); err != nil {
		return nil, err
	}
	a, b := c.In[0], c.In[1]
	if !a.DType.IsFloat() || a.DType != b.DType || len(a.Dims) != 2 || len(b.Dims) != 2 {
		return nil, unsupported("Gemm of %s%v and %s%v", a.DType, a.Dims, b.DType, b.Dims)
	}
	ta, tb := c.Attrs.Int("transA", 0) != 0, c.Attrs.Int("transB", 0) != 0
	alpha, beta := float64(c.Attrs.Float("alpha", 1)), float64(c.Attrs.Float("beta", 1))
	m, k := a.Dims[0], a.Dims[1]
	if ta {
		m, k = k, m
	}
	k2, n := b.Dims[0], b.Dims[1]
	if tb {
		k2, n = n, k2
	}
	if k != k2 {
		return nil, fmt.Errorf("inner dims %d and %d differ", k, k2)
	}
	at := func(i, p int64) float64 {
		if ta {
			return a.Float64At(int(p*m + i))
		}
		return a.Float64At(int(i*k + p))
	}
	bt := func(p, j int64) float64 {
		if tb {
			return b.Float64At(int(j*k + p))
		}
		return b.Float64At(int(p*n + j))
	}
	if err := work("Gemm", mulAll(m, n, max(k, 1))); err != nil {
		return nil, err
	}
	dims := []int64{m, n}
	if err := c.roomDims("product", dims, 24); err != nil {
		return nil, err
	}
	out := make([]float64, m*n)
	var ci []int64
	cv := c.Input(2)
	if cv != nil && cv.DType != a.DType {
		return nil, fmt.Errorf("C is %s, A is %s", cv.DType, a.DType)
	}
	if cv != nil {
		// C broadcasts to [M, N]: it may not be larger than the product.
		if bd, err := broadcastDims(cv.Dims, dims); err != nil || len(bd) != 2 || bd[0] != m || bd[1] != n {
			return nil, fmt.Errorf("C of dims %v does not broadcast to %v", cv.Dims, dims)
		}
		ci = broadcastIndex(cv.Dims, dims)
	}
	for i := int64(0); i < m; i++ {
		for j := int64(0); j < n; j++ {
			s := 0.0
			for p := int64(0); p < k; p++ {
				s += at(i, p) * bt(p, j)
			}
			s *= alpha
			if cv != nil {
				s += beta * cv.Float64At(int(ci[i*n+j]))
			}
			out[i*n+j] = s
		}
	}
	return []*tensor.Tensor{tensor.FromFloat64s(a.DType, dims, out)}, nil
}
