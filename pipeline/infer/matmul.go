// matmul.go: matrix products (MatMul, Gemm, Einsum-free families).

package infer

import (
	"strings"

	"github.com/quantprep/quantprep/pipeline/sym"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

var matmulOps = concatOps(
	[]Op{
		{Name: "MatMul", Since: 1, Rule: inferMatMul(0, 1, 0)},
		{Name: "MatMulInteger", Since: 10, Rule: inferMatMul(0, 1, tensor.Int32)},
		{Name: "QLinearMatMul", Since: 10, Rule: inferMatMul(0, 3, -1)},
		{Name: "Gemm", Since: 1, Rule: inferGemm},
		{Name: "Einsum", Since: 12, Rule: inferEinsum},
		{Name: "Det", Since: 11, Rule: inferDet},
		{Name: "Attention", Since: 23, Rule: inferAttention23}, // 24: nonpad_kv_seqlen, 25: windows
		{Name: "RotaryEmbedding", Since: 23, Rule: inferUnary},
		{Name: "TensorScatter", Since: 24, Rule: inferUnary},
		{Name: "LinearAttention", Since: 27, Rule: inferLinearAttention},
	},
	// Versions where ONNX changed the schema and the row before still holds.
	same("Det", whyNewTypes, 22),
	same("Gemm", whyDoc, 6),
	same("Gemm", "broadcast removed: C broadcasts to A·B's shape, which the rule takes from A and B", 7),
	same("Gemm", whyTypes, 9, 13),
	same("Gemm", "C became optional: the rule takes the output shape from A and B", 11),
	same("MatMul", whyTypes, 9, 13),
	same("QLinearMatMul", whyNewTypes, 21),
)

// inferLinearAttention: query, key, value are packed [B, T, heads*size];
// output is [B, T, q_num_heads*d_v] and present_state [B, kv_num_heads, d_k,
// d_v], of past_state's type, or query's when there is none.
func inferLinearAttention(c *Context) error {
	e := c.Elem(0)
	qh, kvh := c.Attrs().Int("q_num_heads", 0), c.Attrs().Int("kv_num_heads", 0)
	if qh <= 0 || kvh <= 0 {
		return c.Failf("LinearAttention needs positive q_num_heads and kv_num_heads")
	}
	se := e
	if c.HasInput(3) {
		se = c.Elem(3)
	}
	q, ok1 := c.Shape(0)
	k, ok2 := c.Shape(1)
	v, ok3 := c.Shape(2)
	if !ok1 || !ok2 || !ok3 || len(q) != 3 || len(k) != 3 || len(v) != 3 {
		c.SetRank(0, e, 3)
		c.SetRank(1, se, 4)
		return nil
	}
	dk := c.orNew(sym.FloorDiv(k[2], sym.Int(kvh)))
	dv := c.orNew(sym.FloorDiv(v[2], sym.Int(kvh)))
	c.SetTensor(0, e, []sym.Dim{q[0], q[1], c.orNew(sym.Mul(dv, sym.Int(qh)))})
	c.SetTensor(1, se, []sym.Dim{q[0], sym.Int(kvh), dk, dv})
	return nil
}

// inferAttention23 is ai.onnx Attention: Q, K, V either 4-D [batch, heads,
// sequence, head_size] or 3-D [batch, sequence, heads*head_size] with
// q_num_heads and kv_num_heads attributes; Y follows Q's layout with V's
// head size. present_key/value are [batch, kv_heads, past+kv_sequence, head].
func inferAttention23(c *Context) error {
	e := c.Elem(0)
	q, ok1 := c.Shape(0)
	k, ok2 := c.Shape(1)
	v, ok3 := c.Shape(2)
	if !ok1 || !ok2 || !ok3 || len(q) != len(v) || len(k) != len(v) || (len(q) != 3 && len(q) != 4) {
		c.SetElem(0, e)
		return nil
	}
	qh, kvh := c.Attrs().Int("q_num_heads", 0), c.Attrs().Int("kv_num_heads", 0)
	var y []sym.Dim
	var kHead, vHead, kvSeq, kvHeads sym.Dim
	if len(q) == 4 {
		y = []sym.Dim{q[0], q[1], q[2], v[3]}
		kHead, vHead, kvSeq, kvHeads = k[3], v[3], k[2], k[1]
	} else {
		if qh <= 0 || kvh <= 0 {
			return c.Failf("3-D Attention without q_num_heads and kv_num_heads")
		}
		vHead = c.orNew(sym.FloorDiv(v[2], sym.Int(kvh)))
		kHead = c.orNew(sym.FloorDiv(k[2], sym.Int(kvh)))
		y = []sym.Dim{q[0], q[1], sym.Mul(vHead, sym.Int(qh))}
		kvSeq, kvHeads = k[1], sym.Int(kvh)
	}
	c.SetTensor(0, e, y)
	total := kvSeq
	if c.HasInput(4) {
		if p, ok := c.Shape(4); ok && len(p) == 4 {
			total = sym.Add(p[2], kvSeq)
		} else {
			total = c.NewDim()
		}
	}
	if c.HasOutput(1) {
		c.SetTensor(1, e, []sym.Dim{q[0], kvHeads, total, kHead})
	}
	if c.HasOutput(2) {
		c.SetTensor(2, e, []sym.Dim{q[0], kvHeads, total, vHead})
	}
	return nil
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
		out, err := matmulShape(c, a, b, c.Attrs().Int("transA", 0) != 0, c.Attrs().Int("transB", 0) != 0)
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
	if c.Attrs().Int("transA", 0) != 0 {
		m = a[1]
	}
	if c.Attrs().Int("transB", 0) != 0 {
		n = b[0]
	}
	c.SetTensor(0, elem, []sym.Dim{m, n})
	return nil
}

// inferEinsum reads the equation: each input's labels name its axes ("..."
// for broadcast axes); the output's labels are given after "->" or are the
// labels used once, sorted.
func inferEinsum(c *Context) error {
	elem := c.Elem(0)
	eq := strings.ReplaceAll(c.Attrs().String("equation", ""), " ", "")
	lhs, rhs, explicit := strings.Cut(eq, "->")
	terms := strings.Split(lhs, ",")
	if len(terms) != c.NumInputs() {
		return c.Failf("Einsum equation %q has %d operands for %d inputs", eq, len(terms), c.NumInputs())
	}
	dims := map[byte]sym.Dim{}
	count := map[byte]int{}
	var ell []sym.Dim
	for i, term := range terms {
		sh, ok := c.Shape(i)
		if !ok {
			c.SetElem(0, elem)
			return nil
		}
		pre, post, hasEll := strings.Cut(term, "...")
		labels := pre + post
		nEll := len(sh) - len(labels)
		if !hasEll && nEll != 0 || nEll < 0 {
			return c.Failf("Einsum term %q does not match rank %d", term, len(sh))
		}
		if hasEll {
			b, err := c.Broadcast(ell, sh[len(pre):len(pre)+nEll])
			if err != nil {
				return err
			}
			ell = b
		}
		for j := 0; j < len(labels); j++ {
			k := j
			if j >= len(pre) {
				k = j + nEll
			}
			l := labels[j]
			count[l]++
			if d, ok := dims[l]; ok {
				if m, ok := sym.Merge(d, sh[k]); ok {
					dims[l] = m
				} else if !isOne(sh[k]) {
					if isOne(d) {
						dims[l] = sh[k]
					}
				}
				continue
			}
			dims[l] = sh[k]
		}
	}
	if !explicit {
		var ls []byte
		for l, n := range count {
			if n == 1 {
				ls = append(ls, l)
			}
		}
		for i := range ls {
			for j := i + 1; j < len(ls); j++ {
				if ls[j] < ls[i] {
					ls[i], ls[j] = ls[j], ls[i]
				}
			}
		}
		rhs = "..." + string(ls)
		if ell == nil {
			rhs = string(ls)
		}
	}
	var out []sym.Dim
	pre, post, hasEll := strings.Cut(rhs, "...")
	for i := 0; i < len(pre); i++ {
		d, ok := dims[pre[i]]
		if !ok {
			return c.Failf("Einsum output label %q is not an input label", pre[i])
		}
		out = append(out, d)
	}
	if hasEll {
		out = append(out, ell...)
	}
	for i := 0; i < len(post); i++ {
		d, ok := dims[post[i]]
		if !ok {
			return c.Failf("Einsum output label %q is not an input label", post[i])
		}
		out = append(out, d)
	}
	if out == nil {
		out = []sym.Dim{}
	}
	c.SetTensor(0, elem, out)
	return nil
}

func inferDet(c *Context) error {
	sh, ok := c.Shape(0)
	if !ok || len(sh) < 2 {
		c.SetElem(0, c.Elem(0))
		return nil
	}
	c.SetTensor(0, c.Elem(0), sh[:len(sh)-2])
	return nil
}
