package onnxtext

import (
	"fmt"
	"math"
	"strconv"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/internal/float16"
	"google.golang.org/protobuf/proto"
)

// maxDepth bounds the nesting of types and subgraphs so that hostile input
// cannot exhaust the stack.
const maxDepth = 200

// ParseModel parses a model in ONNX's textual syntax: an optional header
// `<key: value, ...>`, a graph, then zero or more model-local functions.
func ParseModel(src string) (*onnxpb.ModelProto, error) {
	p := newParser(src)
	m, err := p.model()
	if err != nil {
		return nil, err
	}
	return m, nil
}

// ParseGraph parses a bare graph: `name (inputs) => (outputs) <decls> { nodes }`.
func ParseGraph(src string) (*onnxpb.GraphProto, error) {
	p := newParser(src)
	g, err := p.graph()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tokEOF {
		return nil, p.errAt(t, "expected end of input after the graph, found %s", t.describe())
	}
	return g, nil
}

// ParseFunction parses one function: `<header> name <attrs> (inputs) => (outputs) { nodes }`.
func ParseFunction(src string) (*onnxpb.FunctionProto, error) {
	p := newParser(src)
	f, err := p.function()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tokEOF {
		return nil, p.errAt(t, "expected end of input after the function, found %s", t.describe())
	}
	return f, nil
}

// parser is a recursive-descent parser over tokens lexed on demand, so that
// big tensor literals never exist as a token slice.
type parser struct {
	lx    lexer
	ahead []token // lookahead, at most two tokens
	depth int
}

func newParser(src string) *parser {
	return &parser{lx: lexer{src: src, line: 1, col: 1}}
}

// peekAt returns the token n places ahead without consuming anything.
func (p *parser) peekAt(n int) token {
	for len(p.ahead) <= n {
		p.ahead = append(p.ahead, p.lx.next())
	}
	return p.ahead[n]
}

func (p *parser) peek() token { return p.peekAt(0) }

// skip consumes the next token.
func (p *parser) skip() {
	p.peek()
	if p.ahead[0].kind == tokEOF || p.ahead[0].kind == tokError {
		return
	}
	copy(p.ahead, p.ahead[1:])
	p.ahead = p.ahead[:len(p.ahead)-1]
}

func (p *parser) next() token {
	t := p.peek()
	p.skip()
	return t
}

// errAt reports an error at t. Once the lexer has failed, its error wins:
// whatever the parser expected, the text there is not even made of tokens.
func (p *parser) errAt(t token, format string, args ...any) error {
	if p.lx.err != nil {
		return p.lx.err
	}
	return &Error{Line: t.line, Col: t.col, Msg: fmt.Sprintf(format, args...)}
}

// isPunct reports whether the next token is the punctuation s.
func (p *parser) isPunct(s string) bool {
	t := p.peek()
	return t.kind == tokPunct && t.text == s
}

// accept consumes the punctuation s if it is next.
func (p *parser) accept(s string) bool {
	if p.isPunct(s) {
		p.skip()
		return true
	}
	return false
}

func (p *parser) expect(s string, what string) error {
	if p.accept(s) {
		return nil
	}
	t := p.peek()
	if what != "" {
		return p.errAt(t, "expected %q %s, found %s", s, what, t.describe())
	}
	return p.errAt(t, "expected %q, found %s", s, t.describe())
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxDepth {
		return p.errAt(p.peek(), "nesting deeper than %d levels", maxDepth)
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

func (p *parser) ident(what string) (string, error) {
	t := p.peek()
	if t.kind != tokIdent {
		return "", p.errAt(t, "expected %s (an identifier), found %s", what, t.describe())
	}
	p.skip()
	return t.text, nil
}

// quotableIdent reads an identifier or a quoted string used as a name.
func (p *parser) quotableIdent(what string) (string, error) {
	t := p.peek()
	switch t.kind {
	case tokIdent:
		p.skip()
		return t.text, nil
	case tokString:
		p.skip()
		return t.str, nil
	}
	return "", p.errAt(t, "expected %s (an identifier or quoted name), found %s", what, t.describe())
}

func (p *parser) str(what string) (string, error) {
	t := p.peek()
	if t.kind != tokString {
		return "", p.errAt(t, "expected %s (a quoted string), found %s", what, t.describe())
	}
	p.skip()
	return t.str, nil
}

func (p *parser) int64(what string) (int64, error) {
	t := p.peek()
	if t.kind != tokInt {
		return 0, p.errAt(t, "expected %s (an integer), found %s", what, t.describe())
	}
	v, err := strconv.ParseInt(t.text, 10, 64)
	if err != nil {
		return 0, p.errAt(t, "%s: integer %s out of range", what, t.text)
	}
	p.skip()
	return v, nil
}

func (p *parser) uint64(what string) (uint64, error) {
	t := p.peek()
	if t.kind != tokInt {
		return 0, p.errAt(t, "expected %s (an unsigned integer), found %s", what, t.describe())
	}
	v, err := strconv.ParseUint(t.text, 10, 64)
	if err != nil {
		return 0, p.errAt(t, "%s: %s is not an unsigned 64-bit integer", what, t.text)
	}
	p.skip()
	return v, nil
}

// float reads a number (integer or float literal, or inf/-inf/nan).
func (p *parser) float(what string, bits int) (float64, error) {
	t := p.peek()
	switch t.kind {
	case tokInt, tokFloat:
		v, err := strconv.ParseFloat(t.text, bits)
		if err != nil && !isRangeErr(err) {
			return 0, p.errAt(t, "%s: bad number %s", what, t.text)
		}
		p.skip()
		return v, nil
	case tokIdent:
		switch t.text {
		case "inf":
			p.skip()
			return math.Inf(1), nil
		case "nan":
			p.skip()
			return math.NaN(), nil
		}
	}
	return 0, p.errAt(t, "expected %s (a number), found %s", what, t.describe())
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

func (p *parser) isFloatToken(t token) bool {
	return t.kind == tokFloat || (t.kind == tokIdent && (t.text == "inf" || t.text == "nan"))
}

func (p *parser) model() (*onnxpb.ModelProto, error) {
	m := &onnxpb.ModelProto{}
	if p.accept("<") {
		for {
			keyTok := p.peek()
			key, err := p.ident("model header key")
			if err != nil {
				return nil, err
			}
			if err := p.expect(":", "after header key "+key); err != nil {
				return nil, err
			}
			switch key {
			case "ir_version":
				v, err := p.int64("ir_version")
				if err != nil {
					return nil, err
				}
				m.IrVersion = proto.Int64(v)
			case "model_version":
				v, err := p.int64("model_version")
				if err != nil {
					return nil, err
				}
				m.ModelVersion = proto.Int64(v)
			case "opset_import":
				ops, err := p.opsetList()
				if err != nil {
					return nil, err
				}
				m.OpsetImport = append(m.OpsetImport, ops...)
			case "producer_name", "producer_version", "domain", "doc_string":
				s, err := p.str(key)
				if err != nil {
					return nil, err
				}
				switch key {
				case "producer_name":
					m.ProducerName = proto.String(s)
				case "producer_version":
					m.ProducerVersion = proto.String(s)
				case "domain":
					m.Domain = proto.String(s)
				case "doc_string":
					m.DocString = proto.String(s)
				}
			case "metadata_props":
				props, err := p.strStrList("metadata_props")
				if err != nil {
					return nil, err
				}
				m.MetadataProps = append(m.MetadataProps, props...)
			default:
				return nil, p.errAt(keyTok, "unknown model header key %q (want ir_version, opset_import, producer_name, producer_version, domain, model_version, doc_string or metadata_props)", key)
			}
			if !p.accept(",") {
				break
			}
		}
		if err := p.expect(">", "closing the model header"); err != nil {
			return nil, err
		}
	}
	g, err := p.graph()
	if err != nil {
		return nil, err
	}
	m.Graph = g
	for p.peek().kind != tokEOF {
		f, err := p.function()
		if err != nil {
			return nil, err
		}
		m.Functions = append(m.Functions, f)
	}
	return m, nil
}

// opsetList reads `["domain" : version, ...]`.
func (p *parser) opsetList() ([]*onnxpb.OperatorSetIdProto, error) {
	if err := p.expect("[", "opening the opset_import list"); err != nil {
		return nil, err
	}
	var out []*onnxpb.OperatorSetIdProto
	if p.accept("]") {
		return out, nil
	}
	for {
		d, err := p.str("opset domain")
		if err != nil {
			return nil, err
		}
		if err := p.expect(":", "after the opset domain"); err != nil {
			return nil, err
		}
		v, err := p.int64("opset version")
		if err != nil {
			return nil, err
		}
		out = append(out, &onnxpb.OperatorSetIdProto{Domain: proto.String(d), Version: proto.Int64(v)})
		if !p.accept(",") {
			break
		}
	}
	return out, p.expect("]", "closing the opset_import list")
}

// strStrList reads `["key": "value", ...]`.
func (p *parser) strStrList(what string) ([]*onnxpb.StringStringEntryProto, error) {
	if err := p.expect("[", "opening "+what); err != nil {
		return nil, err
	}
	var out []*onnxpb.StringStringEntryProto
	if p.accept("]") {
		return out, nil
	}
	for {
		k, err := p.str(what + " key")
		if err != nil {
			return nil, err
		}
		if err := p.expect(":", "after a "+what+" key"); err != nil {
			return nil, err
		}
		v, err := p.str(what + " value")
		if err != nil {
			return nil, err
		}
		out = append(out, &onnxpb.StringStringEntryProto{Key: proto.String(k), Value: proto.String(v)})
		if !p.accept(",") {
			break
		}
	}
	return out, p.expect("]", "closing "+what)
}

func (p *parser) graph() (*onnxpb.GraphProto, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	name, err := p.quotableIdent("graph name")
	if err != nil {
		return nil, err
	}
	g := &onnxpb.GraphProto{Name: proto.String(name)}
	if err := p.expect("(", "opening the graph inputs"); err != nil {
		return nil, err
	}
	if !p.accept(")") {
		for {
			vi, init, err := p.valueInfoOrInit(true)
			if err != nil {
				return nil, err
			}
			g.Input = append(g.Input, vi)
			if init != nil {
				g.Initializer = append(g.Initializer, init)
			}
			if !p.accept(",") {
				break
			}
		}
		if err := p.expect(")", "closing the graph inputs"); err != nil {
			return nil, err
		}
	}
	if t := p.next(); t.kind != tokArrow {
		return nil, p.errAt(t, "expected \"=>\" between graph inputs and outputs, found %s", t.describe())
	}
	if err := p.expect("(", "opening the graph outputs"); err != nil {
		return nil, err
	}
	if !p.accept(")") {
		for {
			vi, _, err := p.valueInfoOrInit(false)
			if err != nil {
				return nil, err
			}
			g.Output = append(g.Output, vi)
			if !p.accept(",") {
				break
			}
		}
		if err := p.expect(")", "closing the graph outputs"); err != nil {
			return nil, err
		}
	}
	if p.accept("<") {
		if !p.accept(">") {
			for {
				vi, init, err := p.valueInfoOrInit(true)
				if err != nil {
					return nil, err
				}
				if init != nil {
					g.Initializer = append(g.Initializer, init)
				} else {
					g.ValueInfo = append(g.ValueInfo, vi)
				}
				if !p.accept(",") {
					break
				}
			}
			if err := p.expect(">", "closing the graph's value infos and initializers"); err != nil {
				return nil, err
			}
		}
	}
	nodes, err := p.nodeList()
	if err != nil {
		return nil, err
	}
	g.Node = nodes
	return g, nil
}

// valueInfoOrInit reads `type name` optionally followed (when allowInit) by
// `= {values}` or `= [external data]`, which makes it an initializer.
func (p *parser) valueInfoOrInit(allowInit bool) (*onnxpb.ValueInfoProto, *onnxpb.TensorProto, error) {
	vi := &onnxpb.ValueInfoProto{}
	// A value may be named like a type keyword (`float`); it is a name when
	// a separator follows it directly.
	if t, nt := p.peek(), p.peekAt(1); t.kind == tokIdent && isTypeKeyword(t.text) &&
		!(nt.kind == tokPunct && (nt.text == "," || nt.text == ")" || nt.text == ">" || nt.text == "=")) {
		tp, err := p.typ()
		if err != nil {
			return nil, nil, err
		}
		vi.Type = tp
	}
	if t, nt := p.peek(), p.peekAt(1); vi.Type == nil && t.kind == tokIdent && !isTypeKeyword(t.text) &&
		(nt.kind == tokIdent || nt.kind == tokString || (nt.kind == tokPunct && (nt.text == "[" || nt.text == "("))) {
		return nil, nil, p.errAt(t, "unknown type %q", t.text)
	}
	nameTok := p.peek()
	name, err := p.quotableIdent("value name")
	if err != nil {
		return nil, nil, err
	}
	vi.Name = proto.String(name)
	if !p.isPunct("=") {
		return vi, nil, nil
	}
	if !allowInit {
		return nil, nil, p.errAt(p.peek(), "unexpected \"=\": values cannot have initial data here")
	}
	p.skip()
	if vi.Type == nil {
		return nil, nil, p.errAt(nameTok, "initializer %q needs a tensor type", name)
	}
	t := &onnxpb.TensorProto{Name: proto.String(name)}
	if err := p.tensorData(t, vi.Type, nameTok); err != nil {
		return nil, nil, err
	}
	return vi, t, nil
}

// typ reads a type: tensor, seq(...), map(k, v), optional(...),
// sparse_tensor(...) or opaque(...).
func (p *parser) typ() (*onnxpb.TypeProto, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	t := p.peek()
	id, err := p.ident("type")
	if err != nil {
		return nil, err
	}
	if et, ok := elemTypeByName[id]; ok {
		shape, err := p.optShape()
		if err != nil {
			return nil, err
		}
		return &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(int32(et)), Shape: shape}}}, nil
	}
	switch id {
	case "seq", "optional":
		if err := p.expect("(", "after "+id); err != nil {
			return nil, err
		}
		elem, err := p.typ()
		if err != nil {
			return nil, err
		}
		if err := p.expect(")", "closing "+id+"(...)"); err != nil {
			return nil, err
		}
		if id == "seq" {
			return &onnxpb.TypeProto{Value: &onnxpb.TypeProto_SequenceType{SequenceType: &onnxpb.TypeProto_Sequence{ElemType: elem}}}, nil
		}
		return &onnxpb.TypeProto{Value: &onnxpb.TypeProto_OptionalType{OptionalType: &onnxpb.TypeProto_Optional{ElemType: elem}}}, nil
	case "map":
		if err := p.expect("(", "after map"); err != nil {
			return nil, err
		}
		kt := p.peek()
		k, err := p.ident("map key type")
		if err != nil {
			return nil, err
		}
		ket, ok := elemTypeByName[k]
		if !ok {
			return nil, p.errAt(kt, "map key type must be a tensor element type, found %q", k)
		}
		if err := p.expect(",", "after the map key type"); err != nil {
			return nil, err
		}
		v, err := p.typ()
		if err != nil {
			return nil, err
		}
		if err := p.expect(")", "closing map(...)"); err != nil {
			return nil, err
		}
		return &onnxpb.TypeProto{Value: &onnxpb.TypeProto_MapType{MapType: &onnxpb.TypeProto_Map{KeyType: proto.Int32(int32(ket)), ValueType: v}}}, nil
	case "sparse_tensor":
		if err := p.expect("(", "after sparse_tensor"); err != nil {
			return nil, err
		}
		et := p.peek()
		e, err := p.ident("sparse tensor element type")
		if err != nil {
			return nil, err
		}
		ee, ok := elemTypeByName[e]
		if !ok {
			return nil, p.errAt(et, "unknown tensor element type %q", e)
		}
		shape, err := p.optShape()
		if err != nil {
			return nil, err
		}
		if err := p.expect(")", "closing sparse_tensor(...)"); err != nil {
			return nil, err
		}
		return &onnxpb.TypeProto{Value: &onnxpb.TypeProto_SparseTensorType{SparseTensorType: &onnxpb.TypeProto_SparseTensor{ElemType: proto.Int32(int32(ee)), Shape: shape}}}, nil
	case "opaque":
		if err := p.expect("(", "after opaque"); err != nil {
			return nil, err
		}
		o := &onnxpb.TypeProto_Opaque{}
		if !p.isPunct(")") {
			a, err := p.qualifiedIdent("opaque type name")
			if err != nil {
				return nil, err
			}
			if p.accept(",") {
				b, err := p.ident("opaque type name")
				if err != nil {
					return nil, err
				}
				o.Domain, o.Name = proto.String(a), proto.String(b)
			} else {
				o.Name = proto.String(a)
			}
		}
		if err := p.expect(")", "closing opaque(...)"); err != nil {
			return nil, err
		}
		return &onnxpb.TypeProto{Value: &onnxpb.TypeProto_OpaqueType{OpaqueType: o}}, nil
	}
	return nil, p.errAt(t, "unknown type %q", id)
}

// optShape reads the optional `[dims]` after an element type. No brackets
// means a scalar (empty shape); `[]` means unknown rank (no shape).
func (p *parser) optShape() (*onnxpb.TensorShapeProto, error) {
	if !p.accept("[") {
		return &onnxpb.TensorShapeProto{}, nil
	}
	if p.accept("]") {
		return nil, nil
	}
	s := &onnxpb.TensorShapeProto{}
	for {
		t := p.peek()
		d := &onnxpb.TensorShapeProto_Dimension{}
		switch {
		case t.kind == tokPunct && t.text == "?":
			p.skip()
		case t.kind == tokIdent:
			p.skip()
			d.Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: t.text}
		case t.kind == tokString:
			p.skip()
			d.Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: t.str}
		case t.kind == tokInt:
			v, err := p.int64("dimension")
			if err != nil {
				return nil, err
			}
			d.Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: v}
		default:
			return nil, p.errAt(t, "expected a dimension (integer, symbolic name or ?), found %s", t.describe())
		}
		s.Dim = append(s.Dim, d)
		if !p.accept(",") {
			break
		}
	}
	return s, p.expect("]", "closing the shape")
}

func (p *parser) qualifiedIdent(what string) (string, error) {
	s, err := p.ident(what)
	if err != nil {
		return "", err
	}
	for p.isPunct(".") {
		p.skip()
		n, err := p.ident(what)
		if err != nil {
			return "", err
		}
		s += "." + n
	}
	return s, nil
}

// tensorData reads `{v, ...}` or `["key": "value", ...]` (external data) for a
// tensor of type tp into t.
func (p *parser) tensorData(t *onnxpb.TensorProto, tp *onnxpb.TypeProto, at token) error {
	tt := tp.GetTensorType()
	if tt == nil {
		return p.errAt(at, "tensor %q needs a tensor type", t.GetName())
	}
	et := onnxpb.TensorProto_DataType(tt.GetElemType())
	t.DataType = proto.Int32(int32(et))
	if tt.Shape == nil {
		return p.errAt(at, "tensor %q needs a shape: write float[2,3] or float for a scalar, not float[]", t.GetName())
	}
	for _, d := range tt.Shape.Dim {
		v, ok := d.Value.(*onnxpb.TensorShapeProto_Dimension_DimValue)
		if !ok {
			return p.errAt(at, "tensor %q: every dimension must be a number", t.GetName())
		}
		t.Dims = append(t.Dims, v.DimValue)
	}
	if p.isPunct("[") {
		ext, err := p.strStrList("external data")
		if err != nil {
			return err
		}
		t.ExternalData = ext
		t.DataLocation = onnxpb.TensorProto_EXTERNAL.Enum()
		return nil
	}
	if tok := p.peek(); tok.kind == tokEllipsis {
		return p.errAt(tok, "tensor %q: values were elided by the printer (\"...\" is print-only); the text cannot be parsed back", t.GetName())
	}
	if err := p.expect("{", "opening the values of tensor "+strconv.Quote(t.GetName())); err != nil {
		return err
	}
	if p.accept("}") {
		return nil
	}
	if tok := p.peek(); tok.kind == tokEllipsis {
		return p.errAt(tok, "tensor %q: values were elided by the printer (\"...\" is print-only); the text cannot be parsed back", t.GetName())
	}
	for {
		tok := p.peek()
		switch et {
		case onnxpb.TensorProto_FLOAT, onnxpb.TensorProto_COMPLEX64:
			v, err := p.float("float value", 32)
			if err != nil {
				return err
			}
			t.FloatData = append(t.FloatData, float32(v))
		case onnxpb.TensorProto_DOUBLE, onnxpb.TensorProto_COMPLEX128:
			v, err := p.float("double value", 64)
			if err != nil {
				return err
			}
			t.DoubleData = append(t.DoubleData, v)
		case onnxpb.TensorProto_FLOAT16, onnxpb.TensorProto_BFLOAT16:
			v, err := p.float("float16 value", 32)
			if err != nil {
				return err
			}
			if et == onnxpb.TensorProto_FLOAT16 {
				t.Int32Data = append(t.Int32Data, int32(float16.FromFloat32(float32(v))))
			} else {
				t.Int32Data = append(t.Int32Data, int32(float16.BFloat16FromFloat32(float32(v))))
			}
		case onnxpb.TensorProto_INT8, onnxpb.TensorProto_INT16, onnxpb.TensorProto_INT32,
			onnxpb.TensorProto_UINT8, onnxpb.TensorProto_UINT16, onnxpb.TensorProto_BOOL:
			var v int64
			if tok.kind == tokIdent && et == onnxpb.TensorProto_BOOL && (tok.text == "true" || tok.text == "false") {
				p.skip()
				if tok.text == "true" {
					v = 1
				}
			} else {
				var err error
				if v, err = p.int64(elemTypeNames[et] + " value"); err != nil {
					return err
				}
			}
			lo, hi := intRange(et)
			if v < lo || v > hi {
				return p.errAt(tok, "value %d out of range for %s", v, elemTypeNames[et])
			}
			t.Int32Data = append(t.Int32Data, int32(v))
		case onnxpb.TensorProto_INT64:
			v, err := p.int64("int64 value")
			if err != nil {
				return err
			}
			t.Int64Data = append(t.Int64Data, v)
		case onnxpb.TensorProto_UINT32, onnxpb.TensorProto_UINT64:
			v, err := p.uint64(elemTypeNames[et] + " value")
			if err != nil {
				return err
			}
			if et == onnxpb.TensorProto_UINT32 && v > math.MaxUint32 {
				return p.errAt(tok, "value %d out of range for uint32", v)
			}
			t.Uint64Data = append(t.Uint64Data, v)
		case onnxpb.TensorProto_STRING:
			s, err := p.str("string value")
			if err != nil {
				return err
			}
			t.StringData = append(t.StringData, []byte(s))
		default:
			return p.errAt(at, "tensor %q: literal values of type %s are not supported", t.GetName(), elemTypeName(int32(et)))
		}
		if !p.accept(",") {
			break
		}
	}
	return p.expect("}", "closing the values of tensor "+strconv.Quote(t.GetName()))
}

func intRange(et onnxpb.TensorProto_DataType) (int64, int64) {
	switch et {
	case onnxpb.TensorProto_INT8:
		return math.MinInt8, math.MaxInt8
	case onnxpb.TensorProto_INT16:
		return math.MinInt16, math.MaxInt16
	case onnxpb.TensorProto_UINT8:
		return 0, math.MaxUint8
	case onnxpb.TensorProto_UINT16:
		return 0, math.MaxUint16
	case onnxpb.TensorProto_BOOL:
		return 0, 1
	}
	return math.MinInt32, math.MaxInt32
}

func elemTypeName(et int32) string {
	if n, ok := elemTypeNames[onnxpb.TensorProto_DataType(et)]; ok {
		return n
	}
	return fmt.Sprintf("data type %d", et)
}

func (p *parser) nodeList() ([]*onnxpb.NodeProto, error) {
	if err := p.expect("{", "opening the node list"); err != nil {
		return nil, err
	}
	var nodes []*onnxpb.NodeProto
	for !p.accept("}") {
		if p.peek().kind == tokEOF {
			return nil, p.errAt(p.peek(), "expected a node or \"}\" closing the node list, found end of input")
		}
		n, err := p.node()
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, n)
	}
	return nodes, nil
}

// nameList reads a comma-separated list of value names, where a name may be
// empty (an omitted optional input or output). It stops before stop.
func (p *parser) nameList(stop string) ([]string, error) {
	var out []string
	if p.isPunct(stop) {
		return out, nil
	}
	for {
		t := p.peek()
		switch {
		case t.kind == tokIdent:
			p.skip()
			out = append(out, t.text)
		case t.kind == tokString:
			p.skip()
			out = append(out, t.str)
		case t.kind == tokPunct && (t.text == "," || t.text == stop):
			out = append(out, "")
		default:
			return nil, p.errAt(t, "expected a value name, \",\" or %q, found %s", stop, t.describe())
		}
		if !p.accept(",") {
			return out, nil
		}
	}
}

func (p *parser) node() (*onnxpb.NodeProto, error) {
	n := &onnxpb.NodeProto{}
	if p.accept("[") {
		name, err := p.quotableIdent("node name")
		if err != nil {
			return nil, err
		}
		n.Name = proto.String(name)
		if err := p.expect("]", "closing the node name"); err != nil {
			return nil, err
		}
	}
	outs, err := p.nameList("=")
	if err != nil {
		return nil, err
	}
	n.Output = outs
	if err := p.expect("=", "after the node outputs"); err != nil {
		return nil, err
	}
	op, err := p.ident("operator name")
	if err != nil {
		return nil, err
	}
	var domain string
	for p.accept(".") {
		if domain != "" {
			domain += "."
		}
		domain += op
		if op, err = p.ident("operator name"); err != nil {
			return nil, err
		}
	}
	n.OpType = proto.String(op)
	n.Domain = proto.String(domain)
	if p.accept(":") {
		ov, err := p.ident("operator overload")
		if err != nil {
			return nil, err
		}
		n.Overload = proto.String(ov)
	}
	hadAttrs := p.isPunct("<")
	if hadAttrs {
		if n.Attribute, err = p.attrList(); err != nil {
			return nil, err
		}
	}
	if err := p.expect("(", fmt.Sprintf("opening the inputs of %s", op)); err != nil {
		return nil, err
	}
	if n.Input, err = p.nameList(")"); err != nil {
		return nil, err
	}
	if err := p.expect(")", fmt.Sprintf("closing the inputs of %s", op)); err != nil {
		return nil, err
	}
	if !hadAttrs && p.isPunct("<") {
		if n.Attribute, err = p.attrList(); err != nil {
			return nil, err
		}
	}
	return n, nil
}

func (p *parser) attrList() ([]*onnxpb.AttributeProto, error) {
	if err := p.expect("<", "opening the attributes"); err != nil {
		return nil, err
	}
	var out []*onnxpb.AttributeProto
	seen := map[string]bool{}
	for {
		t := p.peek()
		a, err := p.attr()
		if err != nil {
			return nil, err
		}
		if seen[a.GetName()] {
			return nil, p.errAt(t, "duplicate attribute %q", a.GetName())
		}
		seen[a.GetName()] = true
		out = append(out, a)
		if !p.accept(",") {
			break
		}
	}
	return out, p.expect(">", "closing the attributes")
}

// attr reads `name [: type] = value`.
func (p *parser) attr() (*onnxpb.AttributeProto, error) {
	name, err := p.ident("attribute name")
	if err != nil {
		return nil, err
	}
	a := &onnxpb.AttributeProto{Name: proto.String(name)}
	if err := p.attrBody(a, true); err != nil {
		return nil, err
	}
	return a, nil
}

// attrBody reads `[: type] = value` after an attribute name. When
// requireValue is false (function attribute declarations), `= value` is optional.
func (p *parser) attrBody(a *onnxpb.AttributeProto, requireValue bool) error {
	name := a.GetName()
	declared := onnxpb.AttributeProto_UNDEFINED
	if p.accept(":") {
		tt := p.peek()
		tn, err := p.ident("attribute type")
		if err != nil {
			return err
		}
		at, ok := attrTypeByName[tn]
		if !ok {
			return p.errAt(tt, "attribute %q: unknown attribute type %q", name, tn)
		}
		declared = at
		a.Type = at.Enum()
	}
	if !requireValue && !p.isPunct("=") {
		return nil
	}
	if err := p.expect("=", fmt.Sprintf("after attribute %q", name)); err != nil {
		return err
	}
	if p.isPunct("[") && !(declared == onnxpb.AttributeProto_TENSOR) {
		lt := p.next()
		if p.accept("]") {
			if declared == onnxpb.AttributeProto_UNDEFINED {
				return p.errAt(lt, "attribute %q: an empty list needs a type, as in %s: ints = []", name, name)
			}
			if singular(declared) == declared {
				return p.errAt(lt, "attribute %q: a %s attribute cannot be a list", name, attrTypeNames[declared])
			}
			return nil
		}
		if declared != onnxpb.AttributeProto_UNDEFINED && singular(declared) == declared {
			return p.errAt(lt, "attribute %q: a %s attribute cannot be a list", name, attrTypeNames[declared])
		}
		var vals []*onnxpb.AttributeProto
		for {
			v := &onnxpb.AttributeProto{}
			if err := p.singleAttrValue(v, name, singular(declared)); err != nil {
				return err
			}
			if v.RefAttrName != nil {
				return p.errAt(lt, "attribute %q: a reference @%s cannot be a list element", name, v.GetRefAttrName())
			}
			vals = append(vals, v)
			if !p.accept(",") {
				break
			}
		}
		if err := p.expect("]", fmt.Sprintf("closing the list of attribute %q", name)); err != nil {
			return err
		}
		return fillList(a, vals, declared, func(msg string) error { return p.errAt(lt, "attribute %q: %s", name, msg) })
	}
	return p.singleAttrValue(a, name, declared)
}

// fillList stores the list elements vals into a, choosing the list type from
// the declared type or the elements (integers widen to floats when mixed).
func fillList(a *onnxpb.AttributeProto, vals []*onnxpb.AttributeProto, declared onnxpb.AttributeProto_AttributeType, fail func(string) error) error {
	et := singular(declared)
	if declared == onnxpb.AttributeProto_UNDEFINED {
		et = vals[0].GetType()
		for _, v := range vals[1:] {
			vt := v.GetType()
			switch {
			case vt == et:
			case (vt == onnxpb.AttributeProto_FLOAT && et == onnxpb.AttributeProto_INT) || (vt == onnxpb.AttributeProto_INT && et == onnxpb.AttributeProto_FLOAT):
				et = onnxpb.AttributeProto_FLOAT
			default:
				return fail(fmt.Sprintf("list mixes %s and %s values", attrTypeNames[et], attrTypeNames[vt]))
			}
		}
	}
	a.Type = plural(et).Enum()
	for _, v := range vals {
		switch et {
		case onnxpb.AttributeProto_INT:
			a.Ints = append(a.Ints, v.GetI())
		case onnxpb.AttributeProto_FLOAT:
			if v.GetType() == onnxpb.AttributeProto_INT {
				a.Floats = append(a.Floats, float32(v.GetI()))
			} else {
				a.Floats = append(a.Floats, v.GetF())
			}
		case onnxpb.AttributeProto_STRING:
			a.Strings = append(a.Strings, v.S)
		case onnxpb.AttributeProto_TENSOR:
			a.Tensors = append(a.Tensors, v.T)
		case onnxpb.AttributeProto_GRAPH:
			a.Graphs = append(a.Graphs, v.G)
		case onnxpb.AttributeProto_TYPE_PROTO:
			a.TypeProtos = append(a.TypeProtos, v.Tp)
		default:
			return fail(fmt.Sprintf("lists of %s values are not supported", attrTypeNames[et]))
		}
	}
	return nil
}

// singleAttrValue reads one attribute value into a. want is the declared
// (singular) type or UNDEFINED.
func (p *parser) singleAttrValue(a *onnxpb.AttributeProto, name string, want onnxpb.AttributeProto_AttributeType) error {
	t := p.peek()
	got := onnxpb.AttributeProto_UNDEFINED
	switch {
	case t.kind == tokEllipsis:
		return p.errAt(t, "attribute %q: value was elided by the printer (\"...\" is print-only); the text cannot be parsed back", name)
	case t.kind == tokPunct && t.text == "@":
		p.skip()
		ref, err := p.quotableIdent("referenced attribute name")
		if err != nil {
			return err
		}
		a.RefAttrName = proto.String(ref)
		return nil
	case t.kind == tokInt && want != onnxpb.AttributeProto_FLOAT:
		v, err := p.int64("integer attribute")
		if err != nil {
			return err
		}
		got, a.I = onnxpb.AttributeProto_INT, proto.Int64(v)
	case t.kind == tokInt || p.isFloatToken(t):
		v, err := p.float("float attribute", 32)
		if err != nil {
			return err
		}
		got, a.F = onnxpb.AttributeProto_FLOAT, proto.Float32(float32(v))
	case t.kind == tokString && !(p.peekAt(1).kind == tokPunct && p.peekAt(1).text == "("):
		p.skip()
		got, a.S = onnxpb.AttributeProto_STRING, []byte(t.str)
	case t.kind == tokIdent && isTypeKeyword(t.text):
		tp, err := p.typ()
		if err != nil {
			return err
		}
		nt := p.peek()
		if want == onnxpb.AttributeProto_TYPE_PROTO || !(nt.kind == tokIdent || nt.kind == tokString || (nt.kind == tokPunct && (nt.text == "{" || nt.text == "=")) || nt.kind == tokEllipsis) {
			got, a.Tp = onnxpb.AttributeProto_TYPE_PROTO, tp
			break
		}
		tensor := &onnxpb.TensorProto{}
		if nt.kind == tokIdent || nt.kind == tokString {
			p.skip()
			tensor.Name = proto.String(map[bool]string{true: nt.text, false: nt.str}[nt.kind == tokIdent])
		}
		p.accept("=")
		if err := p.tensorData(tensor, tp, t); err != nil {
			return err
		}
		got, a.T = onnxpb.AttributeProto_TENSOR, tensor
	case t.kind == tokIdent || t.kind == tokString:
		g, err := p.graph()
		if err != nil {
			return err
		}
		got, a.G = onnxpb.AttributeProto_GRAPH, g
	default:
		return p.errAt(t, "expected a value for attribute %q (number, string, tensor, type, graph, list or @reference), found %s", name, t.describe())
	}
	if want != onnxpb.AttributeProto_UNDEFINED && want != got {
		return p.errAt(t, "attribute %q is declared %s but its value is a %s", name, attrTypeNames[want], attrTypeNames[got])
	}
	a.Type = got.Enum()
	return nil
}

// function reads a model-local function.
func (p *parser) function() (*onnxpb.FunctionProto, error) {
	f := &onnxpb.FunctionProto{}
	if p.accept("<") {
		for {
			kt := p.peek()
			key, err := p.ident("function header key")
			if err != nil {
				return nil, err
			}
			if err := p.expect(":", "after function header key "+key); err != nil {
				return nil, err
			}
			switch key {
			case "domain", "doc_string", "overload":
				s, err := p.str(key)
				if err != nil {
					return nil, err
				}
				switch key {
				case "domain":
					f.Domain = proto.String(s)
				case "doc_string":
					f.DocString = proto.String(s)
				case "overload":
					f.Overload = proto.String(s)
				}
			case "opset_import":
				ops, err := p.opsetList()
				if err != nil {
					return nil, err
				}
				f.OpsetImport = append(f.OpsetImport, ops...)
			case "metadata_props":
				props, err := p.strStrList("metadata_props")
				if err != nil {
					return nil, err
				}
				f.MetadataProps = append(f.MetadataProps, props...)
			default:
				return nil, p.errAt(kt, "unknown function header key %q (want domain, opset_import, doc_string, overload or metadata_props)", key)
			}
			if !p.accept(",") {
				break
			}
		}
		if err := p.expect(">", "closing the function header"); err != nil {
			return nil, err
		}
	}
	name, err := p.quotableIdent("function name")
	if err != nil {
		return nil, err
	}
	f.Name = proto.String(name)
	if p.accept("<") {
		for {
			an, err := p.ident("function attribute name")
			if err != nil {
				return nil, err
			}
			if p.isPunct(":") || p.isPunct("=") {
				a := &onnxpb.AttributeProto{Name: proto.String(an)}
				if err := p.attrBody(a, false); err != nil {
					return nil, err
				}
				f.AttributeProto = append(f.AttributeProto, a)
			} else {
				f.Attribute = append(f.Attribute, an)
			}
			if !p.accept(",") {
				break
			}
		}
		if err := p.expect(">", "closing the function attributes"); err != nil {
			return nil, err
		}
	}
	if f.Input, err = p.funcParams(f, "inputs"); err != nil {
		return nil, err
	}
	if t := p.next(); t.kind != tokArrow {
		return nil, p.errAt(t, "expected \"=>\" between function inputs and outputs, found %s", t.describe())
	}
	if f.Output, err = p.funcParams(f, "outputs"); err != nil {
		return nil, err
	}
	if p.accept("<") {
		if !p.accept(">") {
			for {
				vi, _, err := p.valueInfoOrInit(false)
				if err != nil {
					return nil, err
				}
				f.ValueInfo = append(f.ValueInfo, vi)
				if !p.accept(",") {
					break
				}
			}
			if err := p.expect(">", "closing the function value infos"); err != nil {
				return nil, err
			}
		}
	}
	if f.Node, err = p.nodeList(); err != nil {
		return nil, err
	}
	return f, nil
}

// funcParams reads `(name, type name, ...)`; typed ones also become value infos.
func (p *parser) funcParams(f *onnxpb.FunctionProto, what string) ([]string, error) {
	if err := p.expect("(", "opening the function "+what); err != nil {
		return nil, err
	}
	var names []string
	if p.accept(")") {
		return names, nil
	}
	for {
		vi, _, err := p.valueInfoOrInit(false)
		if err != nil {
			return nil, err
		}
		names = append(names, vi.GetName())
		if vi.Type != nil {
			f.ValueInfo = append(f.ValueInfo, vi)
		}
		if !p.accept(",") {
			break
		}
	}
	return names, p.expect(")", "closing the function "+what)
}

// MustParseModel is ParseModel for test tables: it panics on error.
func MustParseModel(src string) *onnxpb.ModelProto {
	m, err := ParseModel(src)
	if err != nil {
		panic(err)
	}
	return m
}

// MustParseGraph is ParseGraph for test tables: it panics on error.
func MustParseGraph(src string) *onnxpb.GraphProto {
	g, err := ParseGraph(src)
	if err != nil {
		panic(err)
	}
	return g
}
