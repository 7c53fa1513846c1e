package sym

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Parse reads a dim_param. Text is read as an expression only when it is
// exactly the canonical text (String) of the expression it denotes, which is
// how this package writes expressions: "sequence*2", "floor(sequence/2)",
// "Max(batch, sequence)". Any other text is one opaque symbol named by the
// whole text: exporters' names such as "Unsqueeze/decoder/rnn/Unsqueeze_output_0_dim_1",
// "a/b-c", "batch size", "2*sequence" or "p2o.DynamicDimension.0" are never
// taken apart as arithmetic. A Reader adds the names of the model.
func Parse(s string) Dim { return (&Reader{}).Parse(s) }

// Reader reads the dim_params of one model. Its names are opaque atoms that
// our expressions may contain (the graph inputs' dim_params, whatever their
// text): inside an expression each is matched whole, longest first, as
// shape_truth-style evaluators match them. With known set, an identifier in
// an expression must be one of the model's names too, so that an exporter's
// name that happens to look canonical ("seq-len") stays one symbol unless
// both its parts are symbols of the model.
type Reader struct {
	names []string // opaque names, longest first
	known map[string]bool
	cache map[string]Dim
}

// NewReader returns a Reader for a model whose opaque names are names and
// whose identifiers are known (nil: any identifier is accepted).
func NewReader(names []string, known map[string]bool) *Reader {
	r := &Reader{known: known, cache: map[string]Dim{}}
	seen := map[string]bool{}
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n == "" || n == "?" || seen[n] || isIdent(n) {
			continue
		}
		seen[n] = true
		r.names = append(r.names, n)
	}
	sort.SliceStable(r.names, func(i, j int) bool { return len(r.names[i]) > len(r.names[j]) })
	return r
}

// Parse reads one dim_param (see the package-level Parse).
func (r *Reader) Parse(s string) Dim {
	if d, ok := r.cache[s]; ok {
		return d
	}
	d := r.parse(s)
	if r.cache != nil {
		r.cache[s] = d
	}
	return d
}

// Ours reports whether s is read as an expression (not one opaque symbol).
func (r *Reader) Ours(s string) bool {
	d := r.Parse(s)
	name, ok := d.IsSymbol()
	return !ok || name != strings.TrimSpace(s)
}

func (r *Reader) parse(s string) Dim {
	s = strings.TrimSpace(s)
	if s == "" || s == "?" {
		return Unknown()
	}
	if isIdent(s) {
		return Symbol(s)
	}
	for _, n := range r.names {
		if n == s {
			return Symbol(s)
		}
	}
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		return Int(v)
	}
	p := &parser{s: s, r: r}
	n, err := p.expr()
	if err == nil && p.pos != len(p.s) {
		err = fmt.Errorf("trailing text at %d", p.pos)
	}
	if err != nil || p.unknownName {
		return Symbol(s)
	}
	d, ok := n.eval()
	if ok && d.IsFloat() {
		// A dim is an integer: the float text must be an integral value.
		d, ok = asInt(d)
	}
	if !ok || d.String() != s {
		// Not our canonical text: an exporter's name.
		return Symbol(s)
	}
	return d
}

func isIdentStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isIdentChar(c byte) bool {
	return isIdentStart(c) || c >= '0' && c <= '9' || c == '.' || c == ':'
}

// IsIdent reports whether s is a plain name: a letter or _, then letters,
// digits, _, . and :. Such a dim_param is always one symbol.
func IsIdent(s string) bool { return isIdent(s) }

func isIdent(s string) bool {
	if s == "" || !isIdentStart(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isIdentChar(s[i]) {
			return false
		}
	}
	return true
}

type node struct {
	op   string // "int", "sym", "+", "-", "*", "/", "//", "%", "**", "neg", or a function name
	v    int64
	name string
	kids []*node
}

type parser struct {
	s   string
	pos int
	r   *Reader
	// unknownName is set when an identifier is not one of the model's names.
	unknownName bool
}

func (p *parser) skip() {
	for p.pos < len(p.s) && p.s[p.pos] == ' ' {
		p.pos++
	}
}

func (p *parser) peek(tok string) bool {
	p.skip()
	return strings.HasPrefix(p.s[p.pos:], tok)
}

func (p *parser) expr() (*node, error) {
	l, err := p.term()
	if err != nil {
		return nil, err
	}
	for {
		switch {
		case p.peek("+"):
			p.pos++
		case p.peek("-"):
			p.pos++
			r, err := p.term()
			if err != nil {
				return nil, err
			}
			l = &node{op: "-", kids: []*node{l, r}}
			continue
		default:
			return l, nil
		}
		r, err := p.term()
		if err != nil {
			return nil, err
		}
		l = &node{op: "+", kids: []*node{l, r}}
	}
}

func (p *parser) term() (*node, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for {
		var op string
		switch {
		case p.peek("**"):
			op = "**"
		case p.peek("*"):
			op = "*"
		case p.peek("//"):
			op = "//"
		case p.peek("/"):
			op = "/"
		case p.peek("%"):
			op = "%"
		default:
			return l, nil
		}
		p.pos += len(op)
		r, err := p.unary()
		if err != nil {
			return nil, err
		}
		l = &node{op: op, kids: []*node{l, r}}
	}
}

func (p *parser) unary() (*node, error) {
	if p.peek("-") {
		p.pos++
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &node{op: "neg", kids: []*node{x}}, nil
	}
	return p.primary()
}

func (p *parser) primary() (*node, error) {
	p.skip()
	if p.pos >= len(p.s) {
		return nil, fmt.Errorf("unexpected end")
	}
	c := p.s[p.pos]
	switch {
	case c == '(':
		p.pos++
		n, err := p.expr()
		if err != nil {
			return nil, err
		}
		if !p.peek(")") {
			return nil, fmt.Errorf("missing )")
		}
		p.pos++
		return n, nil
	case c >= '0' && c <= '9':
		start := p.pos
		for p.pos < len(p.s) && p.s[p.pos] >= '0' && p.s[p.pos] <= '9' {
			p.pos++
		}
		v, err := strconv.ParseInt(p.s[start:p.pos], 10, 64)
		if err != nil {
			return nil, err
		}
		return &node{op: "int", v: v}, nil
	case p.name() != "":
		name := p.name()
		p.pos += len(name)
		return &node{op: "sym", name: name}, nil
	case isIdentStart(c):
		start := p.pos
		for p.pos < len(p.s) && isIdentChar(p.s[p.pos]) {
			p.pos++
		}
		name := p.s[start:p.pos]
		if !p.peek("(") {
			if p.r != nil && p.r.known != nil && !p.r.known[name] {
				p.unknownName = true
			}
			return &node{op: "sym", name: name}, nil
		}
		p.pos++
		f := &node{op: strings.ToLower(name)}
		for {
			a, err := p.expr()
			if err != nil {
				return nil, err
			}
			f.kids = append(f.kids, a)
			if p.peek(",") {
				p.pos++
				continue
			}
			if p.peek(")") {
				p.pos++
				return f, nil
			}
			return nil, fmt.Errorf("bad call")
		}
	}
	return nil, fmt.Errorf("unexpected %q", c)
}

// name returns the longest opaque name of the reader at the current position.
func (p *parser) name() string {
	if p.r == nil {
		return ""
	}
	rest := p.s[p.pos:]
	for _, n := range p.r.names {
		if strings.HasPrefix(rest, n) {
			return n
		}
	}
	return ""
}

// asInt reads a float value in an integer place: the integer of an integral
// float value (what FloatToInt made and printed); other values do not read.
func asInt(d Dim) (Dim, bool) {
	if !d.IsFloat() {
		return d, true
	}
	if !integral(d) {
		return Dim{}, false
	}
	i := FloatToInt(d)
	return i, !i.unknown
}

// asFloat reads an argument of a float function of the precision: a float
// value of it, or an integer constant (a float constant that is an integer
// prints as one); it must be exact in the precision.
func asFloat(d Dim, prec int) (Dim, bool) {
	if d.IsFloat() {
		return d, d.FloatPrec() == prec
	}
	v, ok := d.Value()
	if !ok || float64(v) != round(float64(v), prec) {
		return Dim{}, false
	}
	f := FloatConst(float64(v), prec)
	return f, !f.unknown
}

// floatFunc maps a float function's name to its op and precision.
func floatFunc(name string) (op string, prec int, ok bool) {
	for _, p := range []int{F32, F64} {
		suf := strconv.Itoa(p)
		switch name {
		case "f" + suf:
			return "fcast", p, true
		case "fsqrt" + suf:
			return "fsqrt", p, true
		case "fmul" + suf:
			return "*", p, true
		case "fdiv" + suf:
			return "/", p, true
		case "fadd" + suf:
			return "+", p, true
		case "fsub" + suf:
			return "-", p, true
		case "fmin" + suf:
			return "min", p, true
		case "fmax" + suf:
			return "max", p, true
		}
	}
	return "", 0, false
}

func (n *node) evalFloat(op string, prec int) (Dim, bool) {
	args := make([]Dim, len(n.kids))
	for i, k := range n.kids {
		d, ok := k.eval()
		if !ok {
			return Dim{}, false
		}
		args[i] = d
	}
	switch op {
	case "fcast":
		if len(args) != 1 || args[0].IsFloat() {
			return Dim{}, false
		}
		d := IntToFloat(args[0], prec)
		return d, !d.unknown
	case "fsqrt":
		if len(args) != 1 {
			return Dim{}, false
		}
		a, ok := asFloat(args[0], prec)
		if !ok {
			return Dim{}, false
		}
		d := FloatSqrt(a)
		return d, !d.unknown
	}
	if len(args) != 2 {
		return Dim{}, false
	}
	a, ok1 := asFloat(args[0], prec)
	b, ok2 := asFloat(args[1], prec)
	if !ok1 || !ok2 {
		return Dim{}, false
	}
	d := FloatBinary(op, a, b)
	return d, !d.unknown
}

func (n *node) eval() (Dim, bool) {
	if op, prec, ok := floatFunc(n.op); ok {
		return n.evalFloat(op, prec)
	}
	if (n.op == "floor" || n.op == "ceiling") && len(n.kids) == 1 && n.kids[0].op != "/" && n.kids[0].op != "//" {
		// floor and ceiling of a float value.
		d, ok := n.kids[0].eval()
		if !ok || !d.IsFloat() {
			return Dim{}, false
		}
		if n.op == "floor" {
			d = FloatFloor(d)
		} else {
			d = FloatCeil(d)
		}
		return d, !d.unknown
	}
	args := make([]Dim, len(n.kids))
	if n.op != "floor" && n.op != "ceil" {
		for i, k := range n.kids {
			d, ok := k.eval()
			if ok {
				d, ok = asInt(d)
			}
			if !ok {
				return Dim{}, false
			}
			args[i] = d
		}
	}
	two := len(args) == 2
	switch n.op {
	case "int":
		return Int(n.v), true
	case "sym":
		return Symbol(n.name), true
	case "neg":
		return Neg(args[0]), true
	case "+":
		return Add(args[0], args[1]), true
	case "-":
		return Sub(args[0], args[1]), true
	case "*":
		return Mul(args[0], args[1]), true
	case "/", "//":
		return FloorDiv(args[0], args[1]), true
	case "%", "mod":
		if !two {
			return Dim{}, false
		}
		return Mod(args[0], args[1]), true
	case "**":
		e, ok := args[1].Value()
		if !ok || e < 0 || e > 16 {
			return Dim{}, false
		}
		out := Int(1)
		for i := int64(0); i < e; i++ {
			out = Mul(out, args[0])
		}
		return out, true
	case "max", "min":
		if !two {
			return Dim{}, false
		}
		if n.op == "max" {
			return Max(args[0], args[1]), true
		}
		return Min(args[0], args[1]), true
	case "floor", "ceil":
		if len(n.kids) != 1 {
			return Dim{}, false
		}
		k := n.kids[0]
		if k.op == "/" || k.op == "//" {
			a, ok1 := k.kids[0].eval()
			b, ok2 := k.kids[1].eval()
			if ok1 {
				a, ok1 = asInt(a)
			}
			if ok2 {
				b, ok2 = asInt(b)
			}
			if !ok1 || !ok2 {
				return Dim{}, false
			}
			if n.op == "floor" {
				return FloorDiv(a, b), true
			}
			return CeilDiv(a, b), true
		}
		return k.eval()
	}
	return Dim{}, false
}
