// sequence.go: sequence and optional values.

package infer

import (
	"github.com/quantprep/quantprep/pipeline/sym"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

var sequenceOps = concatOps(
	[]Op{
		{Name: "SequenceEmpty", Since: 11, Rule: inferSequenceEmpty},
		{Name: "SequenceConstruct", Since: 11, Rule: inferSequenceConstruct},
		{Name: "SequenceInsert", Since: 11, Rule: inferSequenceInsert},
		{Name: "SequenceErase", Since: 11, Rule: inferSequenceErase},
		{Name: "SequenceAt", Since: 11, Rule: inferSequenceAt},
		{Name: "SequenceLength", Since: 11, Rule: inferSequenceLength},
		{Name: "SplitToSequence", Since: 11, Rule: inferSplitToSequence},
		{Name: "ConcatFromSequence", Since: 11, Rule: inferConcatFromSequence},
		{Name: "SequenceMap", Since: 17, Rule: inferSequenceMap},
		{Name: "Optional", Since: 15, Rule: inferOptional},
		{Name: "OptionalHasElement", Since: 15, Rule: inferOptionalHasElement},
		{Name: "OptionalGetElement", Since: 15, Rule: inferOptionalGetElement},
	},
	// Versions where ONNX changed the schema and the row before still holds.
	same("OptionalGetElement", "a plain tensor or sequence input: the rule passes a non-optional input through at every version", 18),
	same("OptionalHasElement", "a plain tensor or sequence input: the output is a bool scalar either way", 18),
	same("SplitToSequence", whyNewTypes, 24),
)

func seqOf(t Type) Type {
	return Type{Kind: KindSequence, Inner: &t}
}

func inferSequenceEmpty(c *Context) error {
	elem := tensor.Float
	if c.Attrs().Has("dtype") {
		elem = tensor.DType(c.Attrs().Int("dtype", 1))
	}
	t := seqOf(Type{Elem: elem})
	t.ItemsKnown = true
	c.SetType(0, t)
	return nil
}

func inferSequenceConstruct(c *Context) error {
	var items []Type
	for i := 0; i < c.NumInputs(); i++ {
		items = append(items, c.Type(i))
	}
	if len(items) == 0 {
		return c.Failf("SequenceConstruct without inputs")
	}
	c.SetType(0, seqWith(c.joinItems(items), items))
	return nil
}

// joinItems describes every one of a sequence's items.
func (c *Context) joinItems(items []Type) Type {
	t := items[0]
	for _, it := range items[1:] {
		t = c.joinElems(t, it)
	}
	return t
}

// seqWith is a sequence of these known items, whose join is in.
func seqWith(in Type, items []Type) Type {
	t := seqOf(in)
	t.Items, t.ItemsKnown = items, true
	return t
}

// seqPosition reads the constant position input i of a sequence of n items:
// ok when it is a valid index (insert allows n).
func seqPosition(c *Context, i, n int, insert bool) (int, bool) {
	if !c.HasInput(i) {
		if insert {
			return n, true
		}
		return n - 1, n > 0
	}
	p, ok := c.Ints(i)
	if !ok || len(p) != 1 {
		return 0, false
	}
	pos := p[0]
	if pos < 0 {
		pos += int64(n)
	}
	limit := int64(n)
	if insert {
		limit++
	}
	return int(pos), pos >= 0 && pos < limit
}

func inner(t Type) (Type, bool) {
	if t.Kind != KindSequence && t.Kind != KindOptional || t.Inner == nil {
		return Type{}, false
	}
	return *t.Inner, true
}

func inferSequenceInsert(c *Context) error {
	in, ok := inner(c.Type(0))
	if !ok {
		c.SetType(0, seqOf(c.Type(1)))
		return nil
	}
	seq := c.Type(0)
	var joined Type
	if in.Elem == 0 && !in.Ranked {
		// An empty sequence takes the inserted tensor's type.
		joined = Type{Elem: c.Elem(1), Ranked: c.Type(1).Ranked, Shape: c.Type(1).Shape}
	} else {
		joined = c.joinElems(in, c.Type(1))
	}
	if pos, ok := seqPosition(c, 2, len(seq.Items), true); ok && seq.ItemsKnown {
		items := append(append(append([]Type{}, seq.Items[:pos]...), c.Type(1)), seq.Items[pos:]...)
		c.SetType(0, seqWith(c.joinItems(items), items))
		return nil
	}
	c.SetType(0, seqOf(joined))
	return nil
}

func inferSequenceErase(c *Context) error {
	seq := c.Type(0)
	if pos, ok := seqPosition(c, 1, len(seq.Items), false); ok && seq.ItemsKnown {
		items := append(append([]Type{}, seq.Items[:pos]...), seq.Items[pos+1:]...)
		in := *seq.Inner
		if len(items) > 0 {
			in = c.joinItems(items)
		}
		c.SetType(0, seqWith(in, items))
		return nil
	}
	seq.Items, seq.ItemsKnown = nil, false
	c.SetType(0, seq)
	return nil
}

func inferSequenceAt(c *Context) error {
	seq := c.Type(0)
	in, ok := inner(seq)
	if !ok {
		return c.Failf("input 0 is not a sequence of known type")
	}
	if pos, ok := seqPosition(c, 1, len(seq.Items), false); ok && seq.ItemsKnown && c.HasInput(1) {
		in = seq.Items[pos]
	} else if in.Ranked {
		// Items differ where a dim is unknown: this one tensor gets a name.
		in.Shape = append([]sym.Dim{}, in.Shape...)
		for i, d := range in.Shape {
			in.Shape[i] = c.orNew(d)
		}
	}
	c.SetType(0, in)
	return nil
}

func inferSequenceLength(c *Context) error {
	c.SetTensor(0, tensor.Int64, []sym.Dim{})
	if seq := c.Type(0); seq.ItemsKnown {
		c.SetValues(0, []sym.Dim{sym.Int(int64(len(seq.Items)))})
	}
	return nil
}

func inferSplitToSequence(c *Context) error {
	sh, ok := c.Shape(0)
	elem := c.Elem(0)
	if !ok {
		c.SetType(0, seqOf(Type{Elem: elem}))
		return nil
	}
	axis, err := tensor.NormAxis(c.Attrs().Int("axis", 0), len(sh))
	if err != nil {
		return err
	}
	keep := c.Attrs().Int("keepdims", 1) != 0
	switch {
	case !c.HasInput(1) && !keep:
		sh = append(sh[:axis], sh[axis+1:]...)
	case !c.HasInput(1):
		sh[axis] = sym.Int(1)
	default:
		sz, ok := c.Ints(1)
		if ok && len(sz) == 1 {
			if r, _ := c.Rank(1); r == 0 {
				if v, ok := sh[axis].Value(); ok && v%sz[0] == 0 {
					sh[axis] = sym.Int(sz[0])
					break
				}
			}
		}
		if ok && len(sz) > 0 {
			same := true
			for _, s := range sz {
				same = same && s == sz[0]
			}
			if same {
				sh[axis] = sym.Int(sz[0])
				break
			}
		}
		sh[axis] = sym.Unknown()
	}
	c.SetType(0, seqOf(Tensor(elem, sh)))
	return nil
}

func inferConcatFromSequence(c *Context) error {
	in, ok := inner(c.Type(0))
	if !ok || !in.Ranked {
		c.SetElem(0, in.Elem)
		return nil
	}
	sh := append([]sym.Dim{}, in.Shape...)
	newAxis := c.Attrs().Int("new_axis", 0) != 0
	r := len(sh)
	if newAxis {
		r++
	}
	axis, err := tensor.NormAxis(c.Attrs().Int("axis", 0), r)
	if err != nil {
		return err
	}
	// With the items known, the new dim is their number or their sum.
	seq := c.Type(0)
	known := seq.ItemsKnown && len(seq.Items) > 0
	total := sym.Int(0)
	for _, it := range seq.Items {
		if !known || !it.Ranked || len(it.Shape) != len(in.Shape) {
			known = false
			break
		}
		if !newAxis {
			total = sym.Add(total, it.Shape[axis])
		}
	}
	if newAxis {
		total = sym.Int(int64(len(seq.Items)))
	}
	d := c.NewDim()
	if known {
		d = c.orNew(total)
	}
	if newAxis {
		sh = append(sh[:axis], append([]sym.Dim{d}, sh[axis:]...)...)
	} else {
		sh[axis] = d
	}
	c.SetTensor(0, in.Elem, sh)
	return nil
}

func inferSequenceMap(c *Context) error {
	body := c.Attrs().Graph("body")
	if body == nil {
		return c.Failf("SequenceMap without a body")
	}
	var in []*Type
	for i := 0; i < c.NumInputs(); i++ {
		t := c.Type(i)
		if e, ok := inner(t); ok && t.Kind == KindSequence {
			t = e
		}
		in = append(in, &t)
	}
	outs, err := c.inferSubgraph(body, in)
	if err != nil {
		return err
	}
	for i := range outs {
		if i < c.NumOutputs() {
			t := outs[i]
			if t.Ranked {
				// Each element may have its own shape.
				t = Type{Elem: t.Elem, Ranked: true, Shape: make([]sym.Dim, len(t.Shape))}
				for j := range t.Shape {
					t.Shape[j] = sym.Unknown()
				}
			}
			c.SetType(i, seqOf(t))
		}
	}
	return nil
}

func inferOptional(c *Context) error {
	if c.HasInput(0) {
		t := c.Type(0)
		c.SetType(0, Type{Kind: KindOptional, Inner: &t})
		return nil
	}
	if a := c.Attrs().Get("type"); a != nil && a.GetTp() != nil {
		t := typeFromProto(a.GetTp())
		c.SetType(0, Type{Kind: KindOptional, Inner: &t})
		return nil
	}
	return c.Failf("Optional without input or type")
}

func inferOptionalHasElement(c *Context) error {
	c.SetTensor(0, tensor.Bool, []sym.Dim{})
	return nil
}

func inferOptionalGetElement(c *Context) error {
	t := c.Type(0)
	if t.Kind == KindOptional {
		if t.Inner == nil {
			return c.Failf("optional of unknown type")
		}
		t = *t.Inner
	}
	c.SetType(0, t)
	return nil
}
