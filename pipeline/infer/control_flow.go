// control_flow.go: If, Loop and Scan, whose bodies are subgraphs that may read
// outer-scope values.

package infer

import (
	"google.golang.org/protobuf/proto"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/sym"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

var controlFlowOps = concatOps(
	[]Op{
		{Name: "If", Since: 1, Rule: inferIf},
		{Name: "Loop", Since: 1, Rule: inferLoop},
		{Name: "Scan", Since: 8, Rule: inferScan8},
		{Name: "Scan", Since: 9, Rule: inferScan},
	},
	// Versions where ONNX changed the schema and the row before still holds.
	same("If", whyDoc, 11),
	same("If", whyTypes, 13, 16),
	same("If", whyNewTypes, 19, 21, 23, 24, 25),
	same("Loop", "the arity of its inputs only: the rule handles any number of loop-carried values", 11),
	same("Loop", whyTypes, 13, 16),
	same("Loop", whyNewTypes, 19, 21, 23, 24, 25),
	same("Scan", whyNegAxes, 11),
	same("Scan", whyTypes, 16),
	same("Scan", whyNewTypes, 19, 21, 23, 24, 25),
)

// joinTypes describes a value that is either a or b: what they agree on,
// with a fresh dim where they differ.
func (c *Context) joinTypes(a, b Type) Type { return c.join(a, b, c.NewDim) }

// joinElems describes the elements of a sequence that holds both a and b:
// where they differ, each element has its own size, so the dim is unknown.
func (c *Context) joinElems(a, b Type) Type { return c.join(a, b, sym.Unknown) }

func (c *Context) join(a, b Type, differ func() sym.Dim) Type {
	if a.Kind != b.Kind {
		return Type{}
	}
	switch a.Kind {
	case KindSequence, KindOptional:
		if a.Inner == nil || b.Inner == nil {
			return Type{Kind: a.Kind}
		}
		// Elements may differ from one another: unknown where a and b differ.
		in := c.join(*a.Inner, *b.Inner, sym.Unknown)
		return Type{Kind: a.Kind, Inner: &in}
	case KindOther:
		return a
	}
	t := Type{Elem: a.Elem}
	if a.Elem != b.Elem {
		t.Elem = 0
	}
	t.RanksVary = a.RanksVary || b.RanksVary || a.Ranked && b.Ranked && len(a.Shape) != len(b.Shape)
	if a.Ranked && b.Ranked && len(a.Shape) == len(b.Shape) {
		t.Ranked = true
		t.Shape = make([]sym.Dim, len(a.Shape))
		for i := range a.Shape {
			if sym.Equal(a.Shape[i], b.Shape[i]) {
				t.Shape[i] = a.Shape[i]
			} else {
				t.Shape[i] = differ()
			}
		}
	}
	return t
}

func inferIf(c *Context) error {
	then, els := c.Attrs().Graph("then_branch"), c.Attrs().Graph("else_branch")
	if then == nil || els == nil {
		return c.Failf("If without both branches")
	}
	a, err := c.inferSubgraph(then, nil)
	if err != nil {
		return err
	}
	b, err := c.inferSubgraph(els, nil)
	if err != nil {
		return err
	}
	if len(a) != len(b) || len(a) != c.NumOutputs() {
		return c.Failf("If branches have %d and %d outputs for %d node outputs", len(a), len(b), c.NumOutputs())
	}
	local := c.localDims()
	if v, ok := c.Values(0); ok && len(v) == 1 {
		// A condition known before run time picks its branch.
		if x, ok := v[0].Value(); ok {
			pick := b
			if x != 0 {
				pick = a
			}
			for i := range pick {
				c.SetType(i, local(pick[i]))
			}
			return nil
		}
	}
	for i := range a {
		t := c.joinTypes(local(a[i]), local(b[i]))
		if t.Kind == KindTensor && !t.Ranked && t.RanksVary && c.HasOutput(i) {
			c.Warnf("output %q has no shape: the condition %q is not known before run time and the branches give %s and %s",
				c.n.GetOutput()[i], c.n.GetInput()[0], a[i], b[i])
		}
		c.SetType(i, t)
	}
	return nil
}

// localDims returns a function that replaces, in a type leaving one of the
// node's subgraphs, every dim that uses a symbol unknown outside the node by
// a fresh dim (unknown in ONNX mode). Such a symbol was defined inside a
// body: by a data-dependent operator, or by an existing value_info there,
// which may give one name to dims of both branches that differ. Passed on,
// it would claim that the node's output dim equals whatever else bears the
// name.
func (c *Context) localDims() func(Type) Type {
	var outer map[string]bool
	isOuter := func(d sym.Dim) bool {
		if !d.IsSymbolic() {
			return true
		}
		if outer == nil {
			outer = c.outerSymbols()
		}
		for _, s := range d.Symbols() {
			if !outer[s] {
				return false
			}
		}
		return true
	}
	var f func(t Type) Type
	f = func(t Type) Type {
		if t.Inner != nil {
			in := f(*t.Inner)
			t.Inner = &in
		}
		if !t.Ranked {
			return t
		}
		var sh []sym.Dim
		for i, d := range t.Shape {
			if isOuter(d) {
				continue
			}
			if sh == nil {
				sh = append([]sym.Dim(nil), t.Shape...)
			}
			sh[i] = c.NewDim()
		}
		if sh != nil {
			t.Shape = sh
		}
		return t
	}
	return f
}

// outerSymbols lists the symbols of every value the node can see.
func (c *Context) outerSymbols() map[string]bool {
	out := map[string]bool{}
	add := func(d sym.Dim) {
		if d.IsSymbolic() {
			for _, s := range d.Symbols() {
				out[s] = true
			}
		}
	}
	var addType func(t Type)
	addType = func(t Type) {
		for _, d := range t.Shape {
			add(d)
		}
		for _, it := range t.Items {
			addType(it)
		}
		if t.Inner != nil {
			addType(*t.Inner)
		}
	}
	for s := c.s; s != nil; s = s.parent {
		for _, v := range s.vals {
			addType(v.t)
			for _, d := range v.vals {
				add(d)
			}
		}
	}
	return out
}

func scalar(e tensor.DType) *Type {
	t := Tensor(e, []sym.Dim{})
	return &t
}

func inferLoop(c *Context) error {
	body := c.Attrs().Graph("body")
	if body == nil {
		return c.Failf("Loop without a body")
	}
	nCarried := c.NumInputs() - 2
	if nCarried < 0 {
		return c.Failf("Loop has %d inputs", c.NumInputs())
	}
	in := []*Type{scalar(tensor.Int64), scalar(tensor.Bool)}
	for i := 0; i < nCarried; i++ {
		t := c.Type(2 + i)
		in = append(in, &t)
	}
	// A trial run on a copy finds the loop-carried dims that change from one
	// iteration to the next; the real run treats those as unknown.
	// The trial's types are not the loop's: what it finds of existing
	// symbols is not a claim.
	c.e.trial++
	trial, err := c.inferSubgraph(proto.Clone(body).(*onnxpb.GraphProto), in)
	c.e.trial--
	if err != nil {
		return err
	}
	if len(trial) != 1+nCarried+(c.NumOutputs()-nCarried) {
		return c.Failf("Loop body has %d outputs", len(trial))
	}
	for i := 0; i < nCarried; i++ {
		if in[2+i].Kind == trial[1+i].Kind {
			j := c.joinTypes(*in[2+i], trial[1+i])
			in[2+i] = &j
		}
	}
	outs, err := c.inferSubgraph(body, in)
	if err != nil {
		return err
	}
	local := c.localDims()
	for i := 0; i < nCarried; i++ {
		if in[2+i].Kind != outs[1+i].Kind {
			// An optional initial value (opset 16) becomes what the body
			// makes of it.
			c.SetType(i, local(outs[1+i]))
			continue
		}
		c.SetType(i, c.joinTypes(*in[2+i], local(outs[1+i])))
	}
	iters := c.NewDim()
	if v, ok := c.Values(0); ok && len(v) == 1 && !c.HasInput(1) {
		iters = c.orNew(v[0])
	}
	for k := nCarried; k < c.NumOutputs(); k++ {
		t := local(outs[1+k])
		if t.Kind == KindTensor && t.Ranked {
			t.Shape = append([]sym.Dim{iters}, t.Shape...)
		}
		c.SetType(k, t)
	}
	return nil
}

// scanBody returns a Scan node's body and how many loop-carried states it
// has: the inputs after the lead ones (sequence_lens before opset 9) that
// are not scan inputs.
func scanBody(c *Context, lead int) (*onnxpb.GraphProto, int, error) {
	body := c.Attrs().Graph("body")
	if body == nil {
		return nil, 0, c.Failf("Scan without a body")
	}
	nScan := int(c.Attrs().Int("num_scan_inputs", 0))
	nState := c.NumInputs() - lead - nScan
	if nScan <= 0 || nState < 0 {
		return nil, 0, c.Failf("Scan with %d scan inputs of %d", nScan, c.NumInputs())
	}
	return body, nState, nil
}

func inferScan(c *Context) error {
	body, nState, err := scanBody(c, 0)
	if err != nil {
		return err
	}
	inAxes, _ := c.Attrs().Ints("scan_input_axes")
	outAxes, _ := c.Attrs().Ints("scan_output_axes")
	var in []*Type
	seq := sym.Unknown()
	for i := 0; i < c.NumInputs(); i++ {
		t := c.Type(i)
		if i >= nState && t.Ranked {
			ax := int64(0)
			if len(inAxes) > i-nState {
				ax = inAxes[i-nState]
			}
			a, err := tensor.NormAxis(ax, len(t.Shape))
			if err != nil {
				return err
			}
			if seq.IsUnknown() {
				seq = t.Shape[a]
			}
			t.Shape = append(append([]sym.Dim{}, t.Shape[:a]...), t.Shape[a+1:]...)
		}
		in = append(in, &t)
	}
	return scanOutputs(c, body, in, nState, func(i int, sh []sym.Dim) ([]sym.Dim, error) {
		if i < nState {
			return sh, nil
		}
		ax := int64(0)
		if len(outAxes) > i-nState {
			ax = outAxes[i-nState]
		}
		a, err := tensor.NormAxis(ax, len(sh)+1)
		if err != nil {
			return nil, err
		}
		return append(append(append([]sym.Dim{}, sh[:a]...), c.orNew(seq)), sh[a:]...), nil
	})
}

// scanOutputs infers body on the per-iteration input types in and types the
// node's outputs from the body's: the first nState, loop-carried states,
// join their input's type, and stack adds to a ranked output's shape the
// axes along which the scan gathers it.
func scanOutputs(c *Context, body *onnxpb.GraphProto, in []*Type, nState int, stack func(i int, sh []sym.Dim) ([]sym.Dim, error)) error {
	outs, err := c.inferSubgraph(body, in)
	if err != nil {
		return err
	}
	local := c.localDims()
	for i := 0; i < c.NumOutputs() && i < len(outs); i++ {
		t := local(outs[i])
		if i < nState {
			t = c.joinTypes(*in[i], t)
		}
		if t.Ranked {
			if t.Shape, err = stack(i, t.Shape); err != nil {
				return err
			}
		}
		c.SetType(i, t)
	}
	return nil
}

// inferScan8 is Scan before opset 9: inputs start with the optional
// sequence_lens, every input has a batch axis 0, and scan inputs and outputs
// have their sequence axis at 1 (or directions, which do not change shapes).
func inferScan8(c *Context) error {
	body, nState, err := scanBody(c, 1)
	if err != nil {
		return err
	}
	var in []*Type
	batch, seq := sym.Unknown(), sym.Unknown()
	for i := 1; i < c.NumInputs(); i++ {
		t := c.Type(i)
		if t.Ranked && len(t.Shape) >= 1 {
			if batch.IsUnknown() {
				batch = t.Shape[0]
			}
			drop := 1
			if i > nState && len(t.Shape) >= 2 {
				if seq.IsUnknown() {
					seq = t.Shape[1]
				}
				drop = 2
			}
			t.Shape = append([]sym.Dim{}, t.Shape[drop:]...)
		}
		in = append(in, &t)
	}
	return scanOutputs(c, body, in, nState, func(i int, sh []sym.Dim) ([]sym.Dim, error) {
		lead := []sym.Dim{c.orNew(batch)}
		if i >= nState {
			lead = append(lead, c.orNew(seq))
		}
		return append(lead, sh...), nil
	})
}
