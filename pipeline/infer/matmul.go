// matmul.go: matrix products (MatMul, Gemm, Einsum-free families).

package infer

import (
	"github.com/quantprep/quantprep/pipeline/sym"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

var matmulOps = []Op{
	{Name: "MatMul", Since: 1, Infer: inferMatMul(0, 1, 0)},
	{Name: "MatMulInteger", Since: 10, Infer: inferMatMul(0, 1, tensor.Int32)},
	{Name: "QLinearMatMul", Since: 10, Infer: inferMatMul(0, 3, -1)},
	{Name: "Gemm", Since: 1, Infer: inferGemm},
}

// matmulShape is numpy's matmul shape rule, with transposes of the last two
// axes of either operand.
func matmulShape(c *Context, a, b []sym.Dim, transA, transB bool) ([]sym.Dim, error) {
	if len(a) == 0 || len(b) == 0 {
		return nil, c.Failf("MatMul of a scalar")
	}
	a, b = append([]sym.Dim{}, a...), append([]sym.Dim{}, b...)
	if transA && len(a) >= 2 {
		a[len(a)-1], a[len(a)-2] = a[len(a)-2], a[len(a)-1]
	}
	if transB && len(b) >= 2 {
		b[len(b)-1], b[len(b)-2] = b[len(b)-2], b[len(b)-1]
	}
	va, vb := len(a) == 1, len(b) == 1
	if va {
		a = []sym.Dim{sym.Int(1), a[0]}
	}
	if vb {
		b = []sym.Dim{b[0], sym.Int(1)}
	}
	k1, k2 := a[len(a)-1], b[len(b)-2]
	if x, ok := k1.Value(); ok {
		if y, ok := k2.Value(); ok && x != y {
			return nil, c.Failf("MatMul inner dims differ: %d and %d", x, y)
		}
	}
	batch, err := c.Broadcast(a[:len(a)-2], b[:len(b)-2])
	if err != nil {
		return nil, err
	}
	out := batch
	if !va {
		out = append(out, a[len(a)-2])
	}
	if !vb {
		out = append(out, b[len(b)-1])
	}
	return out, nil
}

// inferMatMul returns inference for a matmul of inputs ia and ib; elem is
// the output type (0: input ia's, -1: the type of the input after the zero
// points, QLinearMatMul's y_zero_point).
func inferMatMul(ia, ib int, elem tensor.DType) func(*Context) error {
	return func(c *Context) error {
		e := elem
		switch elem {
		case 0:
			e = c.Elem(ia)
		case -1:
			e = c.Elem(7)
		}
		a, ok1 := c.Shape(ia)
		b, ok2 := c.Shape(ib)
		if !ok1 || !ok2 {
			c.SetElem(0, e)
			return nil
		}
		out, err := matmulShape(c, a, b, c.AttrInt("transA", 0) != 0, c.AttrInt("transB", 0) != 0)
		if err != nil {
			return err
		}
		c.SetTensor(0, e, out)
		return nil
	}
}

func inferGemm(c *Context) error {
	elem := c.Elem(0)
	a, ok1 := c.Shape(0)
	b, ok2 := c.Shape(1)
	if !ok1 || !ok2 || len(a) != 2 || len(b) != 2 {
		if ok1 && ok2 {
			return c.Failf("Gemm operands of ranks %d and %d", len(a), len(b))
		}
		c.SetRank(0, elem, 2)
		return nil
	}
	m, n := a[0], b[1]
	if c.AttrInt("transA", 0) != 0 {
		m = a[1]
	}
	if c.AttrInt("transB", 0) != 0 {
		n = b[0]
	}
	c.SetTensor(0, elem, []sym.Dim{m, n})
	return nil
}
