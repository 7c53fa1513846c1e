package infer

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/model"
	"github.com/quantprep/quantprep/pipeline/opset"
	"github.com/quantprep/quantprep/pipeline/sym"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// value is what the engine knows about one named value of a graph.
type value struct {
	t Type
	// vals are the elements of a small integer tensor of rank 0 or 1, each a
	// known int, a symbolic dim or unknown; nil when not tracked.
	vals []sym.Dim
	// tp is the constant that defines the value (an initializer or a Constant
	// node's tensor), decoded on demand into c.
	tp      *onnxpb.TensorProto
	c       *tensor.Tensor
	decoded bool
}

// scope maps names to values; subgraphs see their parents' names.
type scope struct {
	parent *scope
	vals   map[string]*value
}

func (s *scope) get(name string) *value {
	for ; s != nil; s = s.parent {
		if v, ok := s.vals[name]; ok {
			return v
		}
	}
	return nil
}

type engine struct {
	ctx    context.Context
	m      *model.Model
	cfg    Config
	res    *Result
	opsets map[string]int64
	funcs  map[string]*onnxpb.FunctionProto
	// used holds every symbol name in the model, so that fresh ones are new.
	used  map[string]bool
	fresh int
	steps int
	// visits counts inferNode calls against Config.MaxNodeVisits; fn is the
	// function being expanded, for the error.
	visits int64
	fn     string
	// nodes counts the model's nodes in every graph and function.
	nodes int64
	// depth guards against functions that call themselves.
	depth int
	// merged maps symbols that auto_merge unified to their representative.
	merged map[string]sym.Dim
	// topo orders each graph's nodes, remembering subgraphs' outer reads.
	topo *model.TopoSorter
	// rd reads the model's dim_params.
	rd *sym.Reader
	// dry: infer without writing anything into the model.
	dry bool
	// trial counts Loop trial runs under way, whose findings are no claims.
	trial int
	// distrust holds existing symbols that a dry Symbolic run found given
	// to dims that differ; they read as unknown.
	distrust map[string]bool
	// claims records, for each symbol that existing value_info gives an
	// intermediate, the first tensor claiming it and what inference says
	// there, so that one symbol claimed for dims that differ is reported.
	claims map[string]*claim
}

// claim is the first use of an existing symbol and the inferred dim there.
type claim struct {
	tensor, inferred string
	// warned: another tensor claims the symbol for another dim.
	warned bool
	// contract: a main graph input or output declares the symbol.
	contract bool
}

// resolve applies auto_merge's unifications to d.
func (e *engine) resolve(d sym.Dim) sym.Dim {
	if len(e.merged) == 0 || !d.IsSymbolic() {
		return d
	}
	for i := 0; i < 8; i++ {
		n := d.Subst(func(name string) (sym.Dim, bool) {
			r, ok := e.merged[name]
			return r, ok
		})
		if sym.Equal(n, d) {
			break
		}
		d = n
	}
	return d
}

func (e *engine) resolveAll(ds []sym.Dim) []sym.Dim {
	if len(e.merged) == 0 {
		return ds
	}
	for i := range ds {
		ds[i] = e.resolve(ds[i])
	}
	return ds
}

// maxValues bounds the integer tensors whose elements are tracked.
const maxValues = 1024

func newEngine(ctx context.Context, m *model.Model, cfg Config) *engine {
	e := &engine{
		ctx: ctx, m: m, cfg: cfg,
		res:    &Result{Counts: map[string]int64{}},
		opsets: map[string]int64{},
		funcs:  map[string]*onnxpb.FunctionProto{},
		used:   map[string]bool{},
		topo:   model.NewTopoSorter(),
		claims: map[string]*claim{},
	}
	for _, o := range m.Proto.GetOpsetImport() {
		e.opsets[model.NormDomain(o.GetDomain())] = o.GetVersion()
	}
	for _, f := range m.Proto.GetFunctions() {
		e.funcs[model.NormDomain(f.GetDomain())+":"+f.GetName()] = f
	}
	e.rd = newReader(m.Graph())
	e.collectSymbols(m.Graph())
	e.nodes = model.CountParsedNodes(m.Proto)
	return e
}

// forEachDimParam calls f with every dim_param of g's inputs, outputs and
// value_info, and of its subgraphs'; main is true for g's own inputs.
func forEachDimParam(g *onnxpb.GraphProto, f func(p string, mainInput bool)) {
	visit := func(vis []*onnxpb.ValueInfoProto, mainInput bool) {
		for _, vi := range vis {
			tp := vi.GetType()
			for tp.GetSequenceType() != nil || tp.GetOptionalType() != nil {
				if tp.GetSequenceType() != nil {
					tp = tp.GetSequenceType().GetElemType()
				} else {
					tp = tp.GetOptionalType().GetElemType()
				}
			}
			for _, d := range tp.GetTensorType().GetShape().GetDim() {
				if p := d.GetDimParam(); p != "" {
					f(p, mainInput)
				}
			}
		}
	}
	model.WalkGraphs(g, func(g *onnxpb.GraphProto, top bool) {
		visit(g.GetInput(), top)
		visit(g.GetOutput(), false)
		visit(g.GetValueInfo(), false)
	})
}

// newReader makes the reader of the model's dim_params. Names that are not
// our canonical expressions are opaque (exporters' names, whatever their
// text), and so is every dim_param of a graph input, the user's contract.
// An identifier inside an expression must be one of the model's names.
func newReader(g *onnxpb.GraphProto) *sym.Reader {
	known := map[string]bool{}
	var names, others []string
	forEachDimParam(g, func(p string, mainInput bool) {
		switch {
		case sym.IsIdent(p):
			known[p] = true
		case mainInput:
			names = append(names, p)
		default:
			others = append(others, p)
		}
	})
	r := sym.NewReader(names, known)
	for _, p := range others {
		if !r.Ours(p) {
			names = append(names, p)
		}
	}
	return sym.NewReader(names, known)
}

func (e *engine) collectSymbols(g *onnxpb.GraphProto) {
	forEachDimParam(g, func(p string, _ bool) {
		for _, s := range e.rd.Parse(p).Symbols() {
			e.used[s] = true
		}
	})
}

// newSymbol returns a symbol name that occurs nowhere in the model yet.
func (e *engine) newSymbol(base string) sym.Dim {
	var b strings.Builder
	for i := 0; i < len(base); i++ {
		c := base[i]
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			b.WriteByte(c)
		} else {
			b.WriteByte('_')
		}
	}
	name := strings.Trim(b.String(), "_")
	if name == "" || name[0] >= '0' && name[0] <= '9' {
		name = "d_" + name
	}
	if e.used[name] {
		for i := 1; ; i++ {
			n := name + "_" + strconv.Itoa(i)
			if !e.used[n] {
				name = n
				break
			}
		}
	}
	e.used[name] = true
	return sym.Symbol(name)
}

func (e *engine) warnf(format string, args ...any) {
	e.res.Warnings = append(e.res.Warnings, fmt.Sprintf(format, args...))
}

func (e *engine) run() error {
	_, err := e.inferGraph(e.m.Graph(), nil, nil, true)
	if err != nil {
		return err
	}
	if !e.dry {
		e.dropFalseHints()
	}
	e.res.Inferred = int(e.res.Counts["inferred"])
	return nil
}

// nodeLabel names a node in messages: its name, or its first output.
func nodeLabel(n *onnxpb.NodeProto) string {
	if n.GetName() != "" {
		return n.GetName()
	}
	if len(n.GetOutput()) > 0 {
		return n.GetOutput()[0]
	}
	return "?"
}

// inferGraph infers g's nodes. inTypes, when given, are the types of g's
// inputs as the calling node sees them (a subgraph's). It returns the values
// of g's outputs.
func (e *engine) inferGraph(g *onnxpb.GraphProto, parent *scope, inTypes []*Type, top bool) ([]*value, error) {
	s := &scope{parent: parent, vals: make(map[string]*value, len(g.GetNode())*2+len(g.GetInitializer()))}
	for _, tp := range g.GetInitializer() {
		s.vals[tp.GetName()] = constValue(tp)
	}
	for i, in := range g.GetInput() {
		t := readType(in.GetType(), e.rd)
		if i < len(inTypes) && inTypes[i] != nil {
			// A subgraph's declared input types are hints; what the
			// calling node passes is inferred.
			var w Type
			w, t, _ = e.mergeHint(in.GetName(), t, *inTypes[i])
			if tp := w.toProto(); tp != nil && in.GetType() != nil && !e.dry {
				in.Type = tp
			}
		} else if top {
			e.claimContract(in.GetName(), t)
		}
		if v, ok := s.vals[in.GetName()]; ok {
			// An initializer that is also an input: its declared type
			// stands, and its value is only a default.
			if in.GetType() != nil {
				v.t = t
			}
			v.tp, v.vals = nil, nil
			continue
		}
		if e.cfg.Mode == Symbolic && t.Kind == KindTensor && t.Ranked {
			for j, d := range t.Shape {
				if d.IsUnknown() {
					t.Shape[j] = e.newSymbol("unk__" + strconv.Itoa(e.fresh))
					e.fresh++
				}
			}
		}
		s.vals[in.GetName()] = &value{t: t}
	}
	existing := map[string]*onnxpb.ValueInfoProto{}
	for _, vi := range g.GetValueInfo() {
		existing[vi.GetName()] = vi
	}
	outputs := map[string]*onnxpb.ValueInfoProto{}
	for _, vi := range g.GetOutput() {
		outputs[vi.GetName()] = vi
	}
	order, err := e.topo.Order(g)
	if err != nil {
		return nil, err
	}
	var added []*onnxpb.ValueInfoProto
	for _, n := range order {
		e.steps++
		if e.steps%256 == 0 {
			if err := e.ctx.Err(); err != nil {
				return nil, err
			}
		}
		outs, err := e.inferNode(n, s)
		if err != nil {
			return nil, err
		}
		for i, name := range n.GetOutput() {
			if name == "" {
				continue
			}
			v := outs[i]
			if v == nil {
				v = &value{}
			}
			if top {
				e.res.Counts["outputs"]++
			}
			vi, isOut := outputs[name], true
			if vi == nil {
				vi, isOut = existing[name], false
			}
			before := Type{}
			written := v.t
			if vi != nil {
				before = readType(vi.GetType(), e.rd)
				var merged, flow Type
				var why string
				if isOut && top {
					// The main graph's outputs are the user's contract.
					merged, why = mergeTypes(before, v.t)
					flow = merged
				} else {
					merged, flow, why = e.mergeHint(name, before, v.t)
				}
				if why != "" {
					e.res.Counts["conflicts"]++
					msg := fmt.Sprintf("tensor %q (output of node %q, %s): %s", name, nodeLabel(n), n.GetOpType(), why)
					if e.cfg.Strict {
						return nil, &conflictError{msg}
					}
					e.warnf("%s; keeping the existing type where they conflict", msg)
					v.vals = nil
				}
				written, v.t = merged, flow
			}
			s.vals[name] = v
			if e.cfg.Verbose >= 3 {
				e.res.Trace = append(e.res.Trace, fmt.Sprintf("node %q (%s): %s: %s", nodeLabel(n), opName(n), name, v.t))
			}
			if written.known() > before.known() {
				e.res.Counts["inferred"]++
			}
			if top && written.full() {
				e.res.Counts["full_shape"]++
			}
			tp := written.toProto()
			if tp == nil || e.dry {
				continue
			}
			switch {
			case vi != nil:
				vi.Type = tp
			case isOut:
			default:
				nv := &onnxpb.ValueInfoProto{Name: &name, Type: tp}
				existing[name] = nv
				added = append(added, nv)
			}
		}
	}
	g.ValueInfo = append(g.ValueInfo, added...)
	res := make([]*value, len(g.GetOutput()))
	for i, o := range g.GetOutput() {
		v := s.get(o.GetName())
		if v == nil {
			return nil, fmt.Errorf("%w: graph %q: output %q is not defined", model.ErrInvalid, g.GetName(), o.GetName())
		}
		// A graph output that is an input or initializer still gets its type.
		if !e.dry && (o.GetType().GetTensorType().GetElemType() == 0 || o.GetType().GetTensorType().GetShape() == nil) {
			if merged, why := mergeTypes(readType(o.GetType(), e.rd), v.t); why == "" {
				if tp := merged.toProto(); tp != nil {
					o.Type = tp
				}
			}
		}
		res[i] = v
	}
	if top {
		e.res.Counts["nodes"] += int64(len(g.GetNode()))
	}
	return res, nil
}

// constValue is the value of an initializer or constant tensor.
func constValue(tp *onnxpb.TensorProto) *value {
	sh := make([]sym.Dim, len(tp.GetDims()))
	for i, d := range tp.GetDims() {
		sh[i] = sym.Int(d)
	}
	return &value{t: Tensor(tensor.DType(tp.GetDataType()), sh), tp: tp}
}

// inferNode runs the registry entry of n. A failed or missing entry is a
// warning; the returned slice then holds what could be said (maybe nothing).
func (e *engine) inferNode(n *onnxpb.NodeProto, s *scope) ([]*value, error) {
	if err := e.visit(n); err != nil {
		return nil, err
	}
	c := &Context{e: e, n: n, s: s, outs: make([]*value, len(n.GetOutput()))}
	c.ins = make([]*value, len(n.GetInput()))
	for i, in := range n.GetInput() {
		if in == "" {
			continue
		}
		v := s.get(in)
		if v == nil {
			return nil, fmt.Errorf("%w: node %q (%s): input %q is not defined", model.ErrInvalid, nodeLabel(n), n.GetOpType(), in)
		}
		c.ins[i] = v
	}
	dom := model.NormDomain(n.GetDomain())
	c.opset = model.OpsetVersion(dom, e.opsets[dom])
	var err error
	if op, ok := registry.Lookup(dom, n.GetOpType(), c.opset); ok {
		err = safeInfer(op.Rule, c)
	} else if f := e.funcs[dom+":"+n.GetOpType()]; f != nil {
		err = e.inferFunction(c, f)
	} else {
		e.res.Counts["unsupported"]++
		err = errNoEntry
		if rows := registry.Rows(opset.Key{Domain: dom, Name: n.GetOpType()}); len(rows) > 0 {
			// The operator exists, from a later version than the model's.
			err = fmt.Errorf("%w: it exists from opset %d, the model reads opset %d", errNoEntry, rows[0].Since, c.opset)
		}
		if e.cfg.GuessOutputRank && c.HasInput(0) && c.ins[0].t.Kind == KindTensor {
			err = nil
			t := c.ins[0].t
			if t.Ranked {
				sh := make([]sym.Dim, len(t.Shape))
				for j := range sh {
					sh[j] = c.NewDim()
				}
				t.Shape = sh
			}
			for i := range c.outs {
				c.SetType(i, t)
			}
			e.warnf("node %q (%s): no shape inference for this operator; guessed its outputs' rank from input 0", nodeLabel(n), opName(n))
		}
	}
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, model.ErrOverBudget) {
			return nil, err
		}
		if ce := (*conflictError)(nil); e.cfg.Strict && errors.As(err, &ce) {
			// A conflict in a subgraph is as fatal as one outside.
			return nil, fmt.Errorf("node %q (%s): %w", nodeLabel(n), opName(n), err)
		}
		e.res.Counts["failed"]++
		e.warnf("%v", fmt.Errorf("node %q (%s): %w", nodeLabel(n), opName(n), err))
	}
	return c.outs, nil
}

var errNoEntry = errors.New("no shape inference for this operator")

// visit counts a node against the run's budget and checks the context every
// few nodes, wherever the node is: a function body or a subgraph expanded
// again and again is as costly as a large graph.
func (e *engine) visit(n *onnxpb.NodeProto) error {
	e.visits++
	if e.visits%64 == 0 {
		if err := e.ctx.Err(); err != nil {
			return err
		}
	}
	lim := e.cfg.MaxNodeVisits
	if lim <= 0 {
		lim = max(DefaultMaxNodeVisits, 4*e.nodes)
	}
	if e.visits > lim {
		where := fmt.Sprintf("node %q (%s)", nodeLabel(n), opName(n))
		if e.fn != "" {
			where = fmt.Sprintf("function %q, %s", e.fn, where)
		}
		return fmt.Errorf("%w: shape inference stopped after %d node visits, expanding %s", model.ErrOverBudget, lim, where)
	}
	return nil
}

// conflictError is a conflict with an existing type in Strict mode: an
// invalid model.
type conflictError struct{ msg string }

func (e *conflictError) Error() string { return model.ErrInvalid.Error() + ": " + e.msg }
func (e *conflictError) Unwrap() error { return model.ErrInvalid }

// safeInfer runs an entry, turning a panic (a bug in that entry on an input it
// did not expect) into an error wrapping model.ErrInternal, which inferNode
// reports as that node's failure, naming it: one operator cannot stop the run.
func safeInfer(rule Rule, c *Context) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: shape inference panicked (a bug): %v", model.ErrInternal, r)
		}
	}()
	return rule(c)
}

func opName(n *onnxpb.NodeProto) string {
	if d := model.NormDomain(n.GetDomain()); d != "" {
		return d + "." + n.GetOpType()
	}
	return n.GetOpType()
}

// inferSubgraph infers a subgraph attribute of the current node with the given
// input types and returns its outputs' types.
func (c *Context) inferSubgraph(g *onnxpb.GraphProto, inTypes []*Type) ([]Type, error) {
	if c.e.depth > 64 {
		return nil, fmt.Errorf("subgraphs nested too deep")
	}
	c.e.depth++
	defer func() { c.e.depth-- }()
	vals, err := c.e.inferGraph(g, c.s, inTypes, false)
	if err != nil {
		return nil, err
	}
	out := make([]Type, len(vals))
	for i, v := range vals {
		out[i] = v.t
		// Dims the subgraph produced are not invented by this node.
		c.see(v.t)
	}
	return out, nil
}

// inferFunction infers a call of a model-local function by inferring its body
// with the call's inputs; attribute references take the call's attributes.
func (e *engine) inferFunction(c *Context, f *onnxpb.FunctionProto) error {
	if e.depth > 64 {
		return fmt.Errorf("function %q nested too deep", f.GetName())
	}
	e.depth++
	savedFn := e.fn
	e.fn = f.GetName()
	defer func() { e.depth--; e.fn = savedFn }()
	attrs := map[string]*onnxpb.AttributeProto{}
	for _, a := range f.GetAttributeProto() {
		attrs[a.GetName()] = a
	}
	for _, a := range c.n.GetAttribute() {
		attrs[a.GetName()] = a
	}
	s := &scope{vals: map[string]*value{}}
	for i, name := range f.GetInput() {
		if i < len(c.ins) && c.ins[i] != nil {
			s.vals[name] = c.ins[i]
		}
	}
	saved := e.opsets
	fo := map[string]int64{}
	for k, v := range saved {
		fo[k] = v
	}
	for _, o := range f.GetOpsetImport() {
		fo[model.NormDomain(o.GetDomain())] = o.GetVersion()
	}
	e.opsets = fo
	defer func() { e.opsets = saved }()
	for _, n := range f.GetNode() {
		n = bindAttrs(n, attrs)
		outs, err := e.inferNode(n, s)
		if err != nil {
			return err
		}
		for i, name := range n.GetOutput() {
			if name != "" && outs[i] != nil {
				s.vals[name] = outs[i]
			}
		}
	}
	for i, name := range f.GetOutput() {
		if i < len(c.outs) {
			if v := s.vals[name]; v != nil {
				c.outs[i] = &value{t: v.t, vals: v.vals}
			}
		}
	}
	return nil
}

// bindAttrs returns n with attributes that refer to the function's attributes
// (ref_attr_name) replaced by the call's values.
func bindAttrs(n *onnxpb.NodeProto, attrs map[string]*onnxpb.AttributeProto) *onnxpb.NodeProto {
	has := false
	for _, a := range n.GetAttribute() {
		if a.GetRefAttrName() != "" {
			has = true
		}
	}
	if !has {
		return n
	}
	cp := &onnxpb.NodeProto{Input: n.Input, Output: n.Output, Name: n.Name, OpType: n.OpType, Domain: n.Domain}
	for _, a := range n.GetAttribute() {
		if r := a.GetRefAttrName(); r != "" {
			if v, ok := attrs[r]; ok {
				b := proto.Clone(v).(*onnxpb.AttributeProto)
				b.Name = a.Name
				cp.Attribute = append(cp.Attribute, b)
			}
			continue
		}
		cp.Attribute = append(cp.Attribute, a)
	}
	return cp
}
