// sequence.go: sequence and optional values.

package infer

import (
	"github.com/quantprep/quantprep/pipeline/sym"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

var sequenceOps = []Op{
	{Name: "SequenceEmpty", Since: 11, Infer: inferSequenceEmpty},
	{Name: "SequenceConstruct", Since: 11, Infer: inferSequenceConstruct},
	{Name: "SequenceInsert", Since: 11, Infer: inferSequenceInsert},
	{Name: "SequenceErase", Since: 11, Infer: inferSequencePass},
	{Name: "SequenceAt", Since: 11, Infer: inferSequenceAt},
	{Name: "SequenceLength", Since: 11, Infer: inferSequenceLength},
	{Name: "SplitToSequence", Since: 11, Infer: inferSplitToSequence},
	{Name: "ConcatFromSequence", Since: 11, Infer: inferConcatFromSequence},
	{Name: "SequenceMap", Since: 17, Infer: inferSequenceMap},
	{Name: "Optional", Since: 15, Infer: inferOptional},
	{Name: "OptionalHasElement", Since: 15, Infer: inferOptionalHasElement},
	{Name: "OptionalGetElement", Since: 15, Infer: inferOptionalGetElement},
}

func seqOf(t Type) Type {
	return Type{Kind: KindSequence, Inner: &t}
}

func inferSequenceEmpty(c *Context) error {
	elem := tensor.Float
	if c.HasAttr("dtype") {
		elem = tensor.DType(c.AttrInt("dtype", 1))
	}
	c.SetType(0, seqOf(Type{Elem: elem}))
	return nil
}

func inferSequenceConstruct(c *Context) error {
	t := c.Type(0)
	for i := 1; i < c.NumInputs(); i++ {
		t = c.joinElems(t, c.Type(i))
	}
	c.SetType(0, seqOf(t))
	return nil
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
	if in.Elem == 0 && !in.Ranked {
		// An empty sequence takes the inserted tensor's type.
		c.SetType(0, seqOf(Type{Elem: c.Elem(1), Ranked: c.Type(1).Ranked, Shape: c.Type(1).Shape}))
		return nil
	}
	c.SetType(0, seqOf(c.joinElems(in, c.Type(1))))
	return nil
}

func inferSequencePass(c *Context) error {
	c.SetType(0, c.Type(0))
	return nil
}

func inferSequenceAt(c *Context) error {
	in, ok := inner(c.Type(0))
	if !ok {
		return c.Failf("input 0 is not a sequence of known type")
	}
	c.SetType(0, in)
	return nil
}

func inferSequenceLength(c *Context) error {
	c.SetTensor(0, tensor.Int64, []sym.Dim{})
	return nil
}

func inferSplitToSequence(c *Context) error {
	sh, ok := c.Shape(0)
	elem := c.Elem(0)
	if !ok {
		c.SetType(0, seqOf(Type{Elem: elem}))
		return nil
	}
	axis, err := normAxis(c.AttrInt("axis", 0), len(sh))
	if err != nil {
		return err
	}
	keep := c.AttrInt("keepdims", 1) != 0
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
	newAxis := c.AttrInt("new_axis", 0) != 0
	r := len(sh)
	if newAxis {
		r++
	}
	axis, err := normAxis(c.AttrInt("axis", 0), r)
	if err != nil {
		return err
	}
	if newAxis {
		sh = append(sh[:axis], append([]sym.Dim{c.NewDim()}, sh[axis:]...)...)
	} else {
		sh[axis] = c.NewDim()
	}
	c.SetTensor(0, in.Elem, sh)
	return nil
}

func inferSequenceMap(c *Context) error {
	body := c.AttrGraph("body")
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
	if a := c.attr("type"); a != nil && a.GetTp() != nil {
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
