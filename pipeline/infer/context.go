package infer

import (
	"errors"
	"fmt"
	"math"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/model"
	"github.com/quantprep/quantprep/pipeline/sym"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// Context is what an operator's inference sees of one node: its inputs' types,
// shapes and known values, its attributes, and the outputs it sets. It hides
// the mode: in ONNX mode NewDim returns an unknown dim and outputs keep only
// dims that are known or already appear in the node's inputs.
type Context struct {
	e     *engine
	n     *onnxpb.NodeProto
	s     *scope
	ins   []*value
	outs  []*value
	opset int64
	// seen holds the dims of the inputs' shapes and values (ONNX mode).
	seen map[string]bool
}

// Opset is the version at which the node is read (model.OpsetVersion). A rule
// whose operator changed form between versions gets the form from its row
// (forms), not from this.
func (c *Context) Opset() int64 { return c.opset }

// Mode is the engine's mode.
func (c *Context) Mode() Mode { return c.e.cfg.Mode }

// IntMax is the configured int_max.
func (c *Context) IntMax() int64 { return c.e.cfg.IntMax }

// OpType is the node's operator.
func (c *Context) OpType() string { return c.n.GetOpType() }

// Failf returns an error describing why the node cannot be inferred; the
// engine adds the node's name and operator.
func (c *Context) Failf(format string, args ...any) error {
	return fmt.Errorf(format, args...)
}

// NumInputs is the number of input slots, including empty optional ones.
func (c *Context) NumInputs() int { return len(c.ins) }

// NumOutputs is the number of output slots, including empty optional ones.
func (c *Context) NumOutputs() int { return len(c.outs) }

// HasInput reports whether input i is given.
func (c *Context) HasInput(i int) bool { return i < len(c.ins) && c.ins[i] != nil }

// HasOutput reports whether output i is wanted.
func (c *Context) HasOutput(i int) bool { return i < len(c.outs) && c.n.GetOutput()[i] != "" }

// Type returns input i's type (the zero Type when absent).
func (c *Context) Type(i int) Type {
	if !c.HasInput(i) {
		return Type{}
	}
	t := c.ins[i].t
	if len(c.e.merged) > 0 && t.Ranked {
		t.Shape = c.e.resolveAll(append([]sym.Dim(nil), t.Shape...))
	}
	return t
}

// Elem returns input i's element type, 0 when unknown.
func (c *Context) Elem(i int) tensor.DType { return c.Type(i).Elem }

// Shape returns a copy of input i's shape and whether its rank is known.
func (c *Context) Shape(i int) ([]sym.Dim, bool) {
	t := c.Type(i)
	if !t.Ranked || t.Kind != KindTensor {
		return nil, false
	}
	return c.e.resolveAll(append([]sym.Dim(nil), t.Shape...)), true
}

// MustShape returns input i's shape or an error saying that it is unknown.
func (c *Context) MustShape(i int) ([]sym.Dim, error) {
	sh, ok := c.Shape(i)
	if !ok {
		if !c.HasInput(i) {
			return nil, fmt.Errorf("input %d is missing", i)
		}
		return nil, fmt.Errorf("the shape of input %d (%q) is unknown", i, c.n.GetInput()[i])
	}
	return sh, nil
}

// Rank returns input i's rank and whether it is known.
func (c *Context) Rank(i int) (int, bool) {
	sh, ok := c.Shape(i)
	return len(sh), ok
}

// Const returns input i's value when it is a constant (an initializer or a
// Constant node's output).
func (c *Context) Const(i int) (*tensor.Tensor, bool) {
	if !c.HasInput(i) {
		return nil, false
	}
	return c.e.decode(c.ins[i])
}

func (e *engine) decode(v *value) (*tensor.Tensor, bool) {
	if v.tp == nil {
		return nil, false
	}
	if !v.decoded {
		v.decoded = true
		if tensor.NumElements(v.tp.GetDims()) > 1<<20 {
			return nil, false
		}
		t, err := e.m.Tensor(v.tp)
		if err == nil {
			v.c = t
		}
	}
	return v.c, v.c != nil
}

// Values returns the elements of input i, a small integer tensor, when they
// are tracked (row-major, see values.go); elements may be symbolic or unknown.
func (c *Context) Values(i int) ([]sym.Dim, bool) {
	if !c.HasInput(i) {
		return nil, false
	}
	v := c.ins[i]
	if v.vals == nil && v.tp != nil && tensor.DType(v.tp.GetDataType()).IsInt() &&
		tensor.NumElements(v.tp.GetDims()) <= maxValues {
		if t, ok := c.e.decode(v); ok && len(t.I64) <= maxValues {
			v.vals = make([]sym.Dim, len(t.I64))
			for j, x := range t.I64 {
				v.vals[j] = sym.Int(x)
			}
		}
	}
	if v.vals == nil && v.tp != nil {
		v.vals = floatConstValues(c.e, v)
	}
	if v.vals == nil {
		return nil, false
	}
	if len(c.e.merged) > 0 {
		return c.e.resolveAll(append([]sym.Dim(nil), v.vals...)), true
	}
	return v.vals, true
}

// Ints returns input i's values when every one is a known integer.
func (c *Context) Ints(i int) ([]int64, bool) {
	vs, ok := c.Values(i)
	if !ok {
		if t, ok := c.Const(i); ok && t.I64 != nil {
			return t.I64, true
		}
		return nil, false
	}
	out := make([]int64, len(vs))
	for j, d := range vs {
		v, ok := d.Value()
		if !ok {
			return nil, false
		}
		out[j] = v
	}
	return out, true
}

// Floats returns input i's values as float64 when it is a numeric constant.
func (c *Context) Floats(i int) ([]float64, bool) {
	if t, ok := c.Const(i); ok {
		n := int(t.Len())
		out := make([]float64, n)
		for j := 0; j < n; j++ {
			out[j] = t.Float64At(j)
		}
		return out, t.Str == nil
	}
	if v, ok := c.Ints(i); ok {
		out := make([]float64, len(v))
		for j, x := range v {
			out[j] = float64(x)
		}
		return out, true
	}
	// Float values that shape arithmetic made constant (values.go).
	if vs, ok := c.Values(i); ok && len(vs) > 0 {
		out := make([]float64, len(vs))
		for j, d := range vs {
			f, ok := d.FloatValue()
			if !ok {
				return nil, false
			}
			out[j] = f
		}
		return out, true
	}
	return nil, false
}

// NewDim returns a fresh symbol named after the node's output in Symbolic
// mode, and an unknown dim in ONNX mode.
func (c *Context) NewDim() sym.Dim {
	if c.e.cfg.Mode == ONNX {
		return sym.Unknown()
	}
	base := c.n.GetOpType()
	if len(c.n.GetOutput()) > 0 {
		base += "_" + c.n.GetOutput()[0]
	}
	return c.e.newSymbol(base)
}

// orNew returns d, or a fresh dim when d is unknown.
func (c *Context) orNew(d sym.Dim) sym.Dim {
	if d.IsUnknown() {
		return c.NewDim()
	}
	return d
}

// Warnf records a warning about the node that does not stop its inference.
func (c *Context) Warnf(format string, args ...any) {
	c.e.warnf("node %q (%s): %s", nodeLabel(c.n), opName(c.n), fmt.Sprintf(format, args...))
}

func (c *Context) out(i int) *value {
	if i >= len(c.outs) {
		return nil
	}
	if c.outs[i] == nil {
		c.outs[i] = &value{}
	}
	return c.outs[i]
}

// allow filters a dim for ONNX mode: one that is neither known nor seen in
// the node's inputs would be invented, so it becomes unknown.
func (c *Context) allow(d sym.Dim) sym.Dim {
	if c.e.cfg.Mode != ONNX || !d.IsSymbolic() {
		return d
	}
	c.initSeen()
	if c.seen[d.String()] {
		return d
	}
	return sym.Unknown()
}

// SetType sets output i's type.
func (c *Context) SetType(i int, t Type) {
	o := c.out(i)
	if o == nil {
		return
	}
	if t.Kind == KindTensor && t.Ranked {
		sh := make([]sym.Dim, len(t.Shape))
		for j, d := range t.Shape {
			if d.IsFloat() {
				// A float value read where a size belongs (a float
				// OneHot depth): no rule converts it, so it is unknown.
				d = c.NewDim()
			}
			sh[j] = c.allow(d)
		}
		t.Shape = sh
	}
	o.t = t
}

// SetTensor sets output i to a tensor of the given element type and shape.
func (c *Context) SetTensor(i int, elem tensor.DType, shape []sym.Dim) {
	c.SetType(i, Tensor(elem, shape))
}

// SetElem sets output i to a tensor of unknown rank.
func (c *Context) SetElem(i int, elem tensor.DType) {
	c.SetType(i, Type{Elem: elem})
}

// SetRank sets output i to a tensor of the given rank with fresh dims.
func (c *Context) SetRank(i int, elem tensor.DType, rank int) {
	sh := make([]sym.Dim, rank)
	for j := range sh {
		sh[j] = c.NewDim()
	}
	c.SetTensor(i, elem, sh)
}

// SetValues records the elements of output i (a small integer tensor).
func (c *Context) SetValues(i int, vals []sym.Dim) {
	o := c.out(i)
	if o == nil || len(vals) > maxValues {
		return
	}
	out := make([]sym.Dim, len(vals))
	for j, d := range vals {
		out[j] = c.allow(d)
	}
	o.vals = out
}

// setConst makes output i the constant tp.
func (c *Context) setConst(i int, tp *onnxpb.TensorProto) {
	o := c.out(i)
	if o == nil {
		return
	}
	v := constValue(tp)
	o.t, o.tp = v.t, tp
}

// Broadcast applies multidirectional (numpy) broadcasting to shapes.
func (c *Context) Broadcast(shapes ...[]sym.Dim) ([]sym.Dim, error) {
	r := 0
	for _, s := range shapes {
		r = max(r, len(s))
	}
	out := make([]sym.Dim, r)
	for j := range out {
		out[j] = sym.Int(1)
	}
	for _, s := range shapes {
		off := r - len(s)
		for j, d := range s {
			m, err := c.broadcastDim(out[off+j], d)
			if err != nil {
				return nil, err
			}
			out[off+j] = m
		}
	}
	for j := range out {
		out[j] = c.orNew(out[j])
	}
	return out, nil
}

func isOne(d sym.Dim) bool { v, ok := d.Value(); return ok && v == 1 }

func (c *Context) broadcastDim(a, b sym.Dim) (sym.Dim, error) {
	switch {
	case isOne(a):
		return b, nil
	case isOne(b):
		return a, nil
	case sym.Equal(a, b):
		return a, nil
	case a.IsKnown() && b.IsKnown():
		return sym.Dim{}, fmt.Errorf("cannot broadcast dims %v and %v", a, b)
	case a.IsKnown():
		return a, nil
	case b.IsKnown():
		return b, nil
	case a.IsUnknown() || b.IsUnknown():
		return c.NewDim(), nil
	}
	if c.e.cfg.AutoMerge {
		// Unify: later uses of the one that is a plain symbol read as the other.
		c.Warnf("auto_merge: broadcasting treats %v and %v as equal", a, b)
		if c.e.merged == nil {
			c.e.merged = map[string]sym.Dim{}
		}
		if name, ok := b.IsSymbol(); ok {
			c.e.merged[name] = a
			return a, nil
		}
		if name, ok := a.IsSymbol(); ok {
			c.e.merged[name] = b
			return b, nil
		}
		return a, nil
	}
	// Two different symbols broadcast to the larger one when they differ.
	return sym.Max(a, b), nil
}

// Attrs returns the node's attributes, with typed getters.
func (c *Context) Attrs() model.Attrs { return c.n.GetAttribute() }

// errUnknownShape says that an input's shape is needed and unknown.
var errUnknownShape = errors.New("an input's shape is unknown")

// prod multiplies dims.
func prod(ds []sym.Dim) sym.Dim {
	p := sym.Int(1)
	for _, d := range ds {
		p = sym.Mul(p, d)
	}
	return p
}

// ints turns known ints into dims.
func ints(v ...int64) []sym.Dim {
	out := make([]sym.Dim, len(v))
	for i, x := range v {
		out[i] = sym.Int(x)
	}
	return out
}

// clampInt64 keeps float-derived sizes within int64.
func clampInt64(f float64) int64 {
	if f > math.MaxInt64/2 {
		return math.MaxInt64 / 2
	}
	return int64(f)
}

// Domain is the node's operator domain ("" for ai.onnx).
func (c *Context) Domain() string { return model.NormDomain(c.n.GetDomain()) }

func (c *Context) initSeen() {
	if c.seen != nil {
		return
	}
	c.seen = map[string]bool{}
	for _, v := range c.ins {
		if v == nil {
			continue
		}
		for _, x := range v.t.Shape {
			c.seen[x.String()] = true
		}
		for _, x := range v.vals {
			c.seen[x.String()] = true
		}
	}
}

// see records the dims of t (a subgraph's output) as not invented here.
func (c *Context) see(t Type) {
	if c.e.cfg.Mode != ONNX {
		return
	}
	c.initSeen()
	for ; t.Kind == KindSequence || t.Kind == KindOptional; t = *t.Inner {
		if t.Inner == nil {
			return
		}
	}
	for _, x := range t.Shape {
		c.seen[x.String()] = true
	}
}
