// contrib_ms.go: ONNX Runtime's com.microsoft contrib operators that its
// optimizers produce (fused MatMul/Gemm/Gelu, LayerNormalization, Attention).

package infer

import (
	"github.com/quantprep/quantprep/pipeline/sym"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

const ms = "com.microsoft"

var msOps = concatOps(
	each(ms, 1, inferUnary, "QLinearSigmoid", "QLinearLeakyRelu", "QLinearSoftmax", "Gelu", "FastGelu", "QuickGelu", "BiasGelu", "BiasFastGelu",
		"BiasSoftmax", "Inverse", "Trilu", "BiasDropout", "BitmaskDropout"),
	[]Op{
		{Domain: ms, Name: "FusedMatMul", Since: 1, Rule: inferFusedMatMul},
		{Domain: ms, Name: "TransposeMatMul", Since: 1, Rule: inferFusedMatMul},
		{Domain: ms, Name: "FusedGemm", Since: 1, Rule: inferGemm},
		{Domain: ms, Name: "FusedConv", Since: 1, Rule: inferConv(0, 1, 0)},
		{Domain: ms, Name: "NhwcConv", Since: 1, Rule: inferNhwcConv},
		{Domain: ms, Name: "BiasAdd", Since: 1, Rule: inferUnary},
		{Domain: ms, Name: "GemmFastGelu", Since: 1, Rule: inferMatMul(0, 1, 0)},
		{Domain: ms, Name: "MatMulIntegerToFloat", Since: 1, Rule: inferMatMulTo(tensor.Float)},
		{Domain: ms, Name: "DynamicQuantizeMatMul", Since: 1, Rule: inferMatMulTo(tensor.Float)},
		{Domain: ms, Name: "LayerNormalization", Since: 1, Rule: inferLayerNorm(tensor.Float)},
		{Domain: ms, Name: "SimplifiedLayerNormalization", Since: 1, Rule: inferLayerNorm(tensor.Float)},
		{Name: "SimplifiedLayerNormalization", Since: 1, Rule: inferLayerNorm(tensor.Float)},
		{Domain: ms, Name: "SkipLayerNormalization", Since: 1, Rule: inferSkipLayerNorm},
		{Domain: ms, Name: "SkipSimplifiedLayerNormalization", Since: 1, Rule: inferSkipLayerNorm},
		{Domain: ms, Name: "EmbedLayerNormalization", Since: 1, Rule: inferEmbedLayerNorm},
		{Domain: ms, Name: "Attention", Since: 1, Rule: inferAttentionPast(4)},
		{Domain: ms, Name: "QAttention", Since: 1, Rule: inferAttentionPast(8)},
		{Domain: ms, Name: "QuantizeLinear", Since: 1, Rule: inferQuantize},
		// com.microsoft's DequantizeLinear: a float output, as ai.onnx's version 10.
		{Domain: ms, Name: "DequantizeLinear", Since: 1, Rule: func(c *Context) error { return inferDequantize(c, 10) }},
		{Domain: ms, Name: "QLinearAdd", Since: 1, Rule: inferQLinearBinary},
		{Domain: ms, Name: "QLinearMul", Since: 1, Rule: inferQLinearBinary},
		{Domain: ms, Name: "MultiHeadAttention", Since: 1, Rule: inferMultiHeadAttention},
		{Domain: ms, Name: "GroupQueryAttention", Since: 1, Rule: inferGroupQueryAttention},
		{Domain: ms, Name: "QLinearConcat", Since: 1, Rule: inferQLinearConcat},
		{Domain: ms, Name: "QLinearAveragePool", Since: 1, Rule: inferQLinearPool(false)},
		{Domain: ms, Name: "QLinearGlobalAveragePool", Since: 1, Rule: inferQLinearPool(true)},
		{Domain: ms, Name: "RotaryEmbedding", Since: 1, Rule: inferUnary},
		{Domain: ms, Name: "GroupNorm", Since: 1, Rule: inferUnary},
		{Domain: ms, Name: "SkipGroupNorm", Since: 1, Rule: inferSkipGroupNorm},
		{Domain: ms, Name: "BiasSplitGelu", Since: 1, Rule: inferBiasSplitGelu},
		{Domain: ms, Name: "MatMulNBits", Since: 1, Rule: inferMatMulNBits},
	},
	// Versions where ONNX changed the schema and the row before still holds.
	same("Attention", whyNewTypes, 24, 25),
)

// inferFusedMatMul: MatMul with optional transposes of the last two axes.
func inferFusedMatMul(c *Context) error {
	if c.Attrs().Int("transBatchA", 0) != 0 || c.Attrs().Int("transBatchB", 0) != 0 {
		return c.Failf("transBatchA/transBatchB are not supported yet")
	}
	return inferMatMul(0, 1, 0)(c)
}

func inferMatMulTo(elem tensor.DType) func(*Context) error {
	return func(c *Context) error {
		a, ok1 := c.Shape(0)
		b, ok2 := c.Shape(1)
		if !ok1 || !ok2 {
			c.SetElem(0, elem)
			return nil
		}
		out, err := matmulShape(c, a, b, false, false)
		if err != nil {
			return err
		}
		c.SetTensor(0, elem, out)
		return nil
	}
}

func inferNhwcConv(c *Context) error {
	x, ok1 := c.Shape(0)
	w, ok2 := c.Shape(1)
	if !ok1 || !ok2 || len(x) < 3 || len(w) != len(x) {
		c.SetElem(0, c.Elem(0))
		return nil
	}
	// Move channels to axis 1 and back.
	nchw := append([]sym.Dim{x[0], x[len(x)-1]}, x[1:len(x)-1]...)
	kernel := make([]int64, len(x)-2)
	if k, ok := c.Attrs().Ints("kernel_shape"); ok {
		kernel = k
	} else {
		for i := range kernel {
			v, ok := w[2+i].Value()
			if !ok {
				c.SetRank(0, c.Elem(0), len(x))
				return nil
			}
			kernel[i] = v
		}
	}
	win, err := readWindow(c, kernel)
	if err != nil {
		return err
	}
	out := []sym.Dim{nchw[0]}
	for i := range kernel {
		out = append(out, c.orNew(win.out(c, i, nchw[2+i])))
	}
	out = append(out, w[0])
	c.SetTensor(0, c.Elem(0), out)
	return nil
}

func inferSkipLayerNorm(c *Context) error {
	c.SetType(0, c.Type(0))
	sh, ok := c.Shape(0)
	ok = ok && len(sh) > 0
	for i := 1; i < 3 && i < c.NumOutputs(); i++ {
		if !c.HasOutput(i) {
			continue
		}
		if !ok {
			c.SetElem(i, tensor.Float)
			continue
		}
		out := append([]sym.Dim{}, sh...)
		out[len(out)-1] = sym.Int(1)
		c.SetTensor(i, tensor.Float, out)
	}
	if c.HasOutput(3) {
		c.SetType(3, c.Type(0))
	}
	return nil
}

func inferEmbedLayerNorm(c *Context) error {
	ids, ok := c.Shape(0)
	emb, ok2 := c.Shape(2) // word_embedding [vocab, hidden]
	e := c.Elem(2)
	if !ok || !ok2 || len(ids) != 2 || len(emb) != 2 {
		c.SetElem(0, e)
		c.SetElem(1, tensor.Int32)
		return nil
	}
	c.SetTensor(0, e, []sym.Dim{ids[0], ids[1], emb[1]})
	c.SetTensor(1, tensor.Int32, []sym.Dim{ids[0]})
	if c.HasOutput(2) {
		c.SetTensor(2, e, []sym.Dim{ids[0], ids[1], emb[1]})
	}
	return nil
}

// inferAttention: input [batch, sequence, input_hidden], weights
// [input_hidden, q+k+v hidden]; output [batch, sequence, v_hidden]; present
// [2, batch, num_heads, past+sequence, head_size].
func inferAttentionPast(past int) func(*Context) error {
	return func(c *Context) error { return inferAttention(c, past) }
}

func inferAttention(c *Context, past int) error {
	e := c.Elem(0)
	if c.OpType() == "QAttention" {
		// Quantized inputs, float outputs: the bias's type.
		e = c.Elem(2)
	}
	x, ok1 := c.Shape(0)
	w, ok2 := c.Shape(1)
	if !ok1 || !ok2 || len(x) != 3 || len(w) != 2 {
		c.SetElem(0, e)
		return nil
	}
	var vHidden sym.Dim
	if q, ok := c.Attrs().Ints("qkv_hidden_sizes"); ok && len(q) == 3 {
		vHidden = sym.Int(q[2])
	} else {
		vHidden = c.orNew(sym.FloorDiv(w[1], sym.Int(3)))
	}
	c.SetTensor(0, e, []sym.Dim{x[0], x[1], vHidden})
	if c.HasOutput(1) {
		heads := c.Attrs().Int("num_heads", 0)
		if heads <= 0 {
			return c.Failf("Attention without num_heads")
		}
		total := x[1]
		if p, ok := c.Shape(past); ok && len(p) == 5 {
			total = sym.Add(p[3], x[1])
		} else if c.HasInput(past) {
			total = c.NewDim()
		}
		c.SetTensor(1, e, []sym.Dim{sym.Int(2), x[0], sym.Int(heads), total, c.orNew(sym.FloorDiv(vHidden, sym.Int(heads)))})
	}
	return nil
}

func inferQLinearBinary(c *Context) error {
	a, ok1 := c.Shape(0)
	b, ok2 := c.Shape(3)
	if !ok1 || !ok2 {
		c.SetElem(0, c.Elem(0))
		return nil
	}
	out, err := c.Broadcast(a, b)
	if err != nil {
		return err
	}
	c.SetTensor(0, c.Elem(0), out)
	return nil
}

// inferMultiHeadAttention: output [batch, sequence, v_hidden], where v_hidden
// comes from value ([batch, kv_sequence, v_hidden] or [batch, heads,
// kv_sequence, head_size]), packed key/value ([batch, kv_sequence, heads, 2,
// head_size]) or packed query/key/value ([batch, sequence, heads, 3,
// head_size]). present_key/present_value are [batch, heads, total, head_size].
func inferMultiHeadAttention(c *Context) error {
	e := c.Elem(0)
	q, ok := c.Shape(0)
	if !ok || (len(q) != 3 && len(q) != 5) {
		c.SetElem(0, e)
		return nil
	}
	heads := c.Attrs().Int("num_heads", 0)
	var vHidden, kHidden, kvSeq sym.Dim
	k, okK := c.Shape(1)
	v, okV := c.Shape(2)
	switch {
	case okK && len(k) == 3:
		kHidden = k[2]
	case okK && len(k) == 4:
		kHidden = sym.Mul(k[1], k[3])
	default:
		kHidden = sym.Unknown()
	}
	switch {
	case len(q) == 5:
		vHidden, kvSeq = sym.Mul(q[2], q[4]), q[1]
		kHidden = vHidden
	case okK && len(k) == 5:
		vHidden, kvSeq = sym.Mul(k[2], k[4]), k[1]
		kHidden = vHidden
	case okV && len(v) == 3:
		vHidden = v[2]
		kvSeq = v[1]
	case okV && len(v) == 4:
		vHidden, kvSeq = sym.Mul(v[1], v[3]), v[2]
	default:
		c.SetRank(0, e, 3)
		return nil
	}
	c.SetTensor(0, e, []sym.Dim{q[0], q[1], vHidden})
	if heads > 0 && (c.HasOutput(1) || c.HasOutput(2)) {
		total := kvSeq
		if p, ok := c.Shape(6); ok && c.HasInput(6) && len(p) == 4 {
			total = sym.Add(p[2], kvSeq)
		} else if c.HasInput(6) {
			total = c.NewDim()
		}
		for i, hidden := range []sym.Dim{kHidden, vHidden} {
			if c.HasOutput(i + 1) {
				h := c.orNew(sym.FloorDiv(hidden, sym.Int(heads)))
				c.SetTensor(i+1, e, []sym.Dim{q[0], sym.Int(heads), total, h})
			}
		}
	}
	return nil
}

func inferSkipGroupNorm(c *Context) error {
	c.SetType(0, c.Type(0))
	if c.HasOutput(1) {
		c.SetType(1, c.Type(0))
	}
	return nil
}

// inferBiasSplitGelu halves the last axis.
func inferBiasSplitGelu(c *Context) error {
	sh, ok := c.Shape(0)
	if !ok || len(sh) == 0 {
		c.SetElem(0, c.Elem(0))
		return nil
	}
	sh[len(sh)-1] = c.orNew(sym.FloorDiv(sh[len(sh)-1], sym.Int(2)))
	c.SetTensor(0, c.Elem(0), sh)
	return nil
}

// inferMatMulNBits: A [..., K] times a quantized [K, N] with N an attribute.
func inferMatMulNBits(c *Context) error {
	sh, ok := c.Shape(0)
	if !ok || len(sh) == 0 || !c.Attrs().Has("N") {
		c.SetElem(0, c.Elem(0))
		return nil
	}
	sh[len(sh)-1] = sym.Int(c.Attrs().Int("N", 0))
	c.SetTensor(0, c.Elem(0), sh)
	return nil
}

// inferQLinearConcat: inputs are Y_scale, Y_zero_point, then (X, scale,
// zero_point) triples; the output is the Concat of the Xs.
func inferQLinearConcat(c *Context) error {
	elem := c.Elem(2)
	var shapes [][]sym.Dim
	for i := 2; i < c.NumInputs(); i += 3 {
		sh, ok := c.Shape(i)
		if !ok {
			c.SetElem(0, elem)
			return nil
		}
		shapes = append(shapes, sh)
	}
	out, _, err := concatShape(c, shapes, 0)
	if err != nil {
		return err
	}
	c.SetTensor(0, elem, out)
	return nil
}

// inferQLinearPool pools input 0; channels_last layouts are not handled.
func inferQLinearPool(global bool) func(*Context) error {
	return func(c *Context) error {
		if c.Attrs().Int("channels_last", 0) != 0 {
			return c.Failf("channels_last is not supported yet")
		}
		if global {
			return inferGlobalPool(c)
		}
		return inferPool(c)
	}
}

// inferGroupQueryAttention: query [batch, sequence, heads*head] (or packed
// with key and value: (heads+2*kv_heads)*head); output [batch, sequence,
// heads*head]; present key/value [batch, kv_heads, present_sequence, head],
// where present_sequence depends on the runtime total length unless there
// is no past.
func inferGroupQueryAttention(c *Context) error {
	e := c.Elem(0)
	q, ok := c.Shape(0)
	heads, kvHeads := c.Attrs().Int("num_heads", 0), c.Attrs().Int("kv_num_heads", 0)
	if !ok || len(q) != 3 || heads <= 0 || kvHeads <= 0 {
		c.SetElem(0, e)
		return nil
	}
	var head sym.Dim
	if c.HasInput(1) {
		head = c.orNew(sym.FloorDiv(q[2], sym.Int(heads)))
	} else {
		head = c.orNew(sym.FloorDiv(q[2], sym.Int(heads+2*kvHeads)))
	}
	c.SetTensor(0, e, []sym.Dim{q[0], q[1], sym.Mul(head, sym.Int(heads))})
	// Without a past the present is this sequence; with one its length
	// depends on the runtime total sequence length.
	present := q[1]
	if c.HasInput(3) {
		present = c.NewDim()
	}
	for i := 1; i <= 2; i++ {
		if c.HasOutput(i) {
			c.SetTensor(i, e, []sym.Dim{q[0], sym.Int(kvHeads), present, head})
		}
	}
	return nil
}
