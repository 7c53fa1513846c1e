// Package sym is the algebra of tensor dimensions: a dim is a known integer, an
// unknown, or an expression over named symbols (batch, sequence*2,
// floor(sequence/2)). Expressions are kept in one canonical form, a sum of
// integer multiples of products of atoms, so equal expressions compare equal
// and print the same. It uses the standard library only.
package sym

import (
	"math"
	"sort"
	"strconv"
	"strings"
)

// Dim is a tensor dimension. The zero value is the known integer 0.
type Dim struct {
	unknown bool
	c       int64  // constant term
	ts      []term // non-constant terms, sorted by key, nonzero coefficients
}

// term is k times the product of the atoms f (sorted by key, repeats allowed).
type term struct {
	k   int64
	f   []*atom
	key string
}

// atom is a symbol (op == ""), an opaque function of dims, a float value
// (prec != 0, see float.go) or the integer of a float value (op "int").
type atom struct {
	op   string // "", "floor", "mod", "max", "min", "int", or a float op
	name string
	args []Dim
	key  string
	f    float64 // the value of an "fconst"
	prec uint8   // F32 or F64 for a float value, else 0
}

// Int returns the known dim n.
func Int(n int64) Dim { return Dim{c: n} }

// Unknown returns a dim about which nothing is known.
func Unknown() Dim { return Dim{unknown: true} }

// Symbol returns the dim named name.
func Symbol(name string) Dim {
	a := &atom{name: name, key: name}
	return Dim{ts: []term{{k: 1, f: []*atom{a}, key: a.key}}}
}

// IsUnknown reports whether nothing is known about d.
func (d Dim) IsUnknown() bool { return d.unknown }

// IsKnown reports whether d is a known integer.
func (d Dim) IsKnown() bool { return !d.unknown && len(d.ts) == 0 }

// Value returns d's integer and whether d is known.
func (d Dim) Value() (int64, bool) { return d.c, d.IsKnown() }

// IsSymbolic reports whether d is an expression with at least one symbol.
func (d Dim) IsSymbolic() bool { return !d.unknown && len(d.ts) > 0 }

// IsSymbol reports whether d is a single symbol and returns its name.
func (d Dim) IsSymbol() (string, bool) {
	if d.unknown || d.c != 0 || len(d.ts) != 1 || d.ts[0].k != 1 || len(d.ts[0].f) != 1 || d.ts[0].f[0].op != "" {
		return "", false
	}
	return d.ts[0].f[0].name, true
}

// Symbols returns the names of the symbols d depends on, sorted.
func (d Dim) Symbols() []string {
	seen := map[string]bool{}
	var walk func(Dim)
	walk = func(d Dim) {
		for _, t := range d.ts {
			for _, a := range t.f {
				if a.op == "" {
					seen[a.name] = true
				}
				for _, x := range a.args {
					walk(x)
				}
			}
		}
	}
	walk(d)
	out := make([]string, 0, len(seen))
	for s := range seen {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// Equal reports whether a and b are the same known value or the same
// expression. Unknown dims are equal to nothing.
func Equal(a, b Dim) bool {
	if a.unknown || b.unknown || a.c != b.c || len(a.ts) != len(b.ts) {
		return false
	}
	for i := range a.ts {
		if a.ts[i].k != b.ts[i].k || a.ts[i].key != b.ts[i].key {
			return false
		}
	}
	return true
}

// Add returns a+b.
func Add(a, b Dim) Dim {
	if a.unknown || b.unknown || isFloatArg(a, b) {
		return Unknown()
	}
	if len(b.ts) == 0 {
		return Dim{c: a.c + b.c, ts: a.ts}
	}
	if len(a.ts) == 0 {
		return Dim{c: a.c + b.c, ts: b.ts}
	}
	out := Dim{c: a.c + b.c, ts: make([]term, 0, len(a.ts)+len(b.ts))}
	i, j := 0, 0
	for i < len(a.ts) || j < len(b.ts) {
		switch {
		case j == len(b.ts) || (i < len(a.ts) && a.ts[i].key < b.ts[j].key):
			out.ts = append(out.ts, a.ts[i])
			i++
		case i == len(a.ts) || b.ts[j].key < a.ts[i].key:
			out.ts = append(out.ts, b.ts[j])
			j++
		default:
			if k := a.ts[i].k + b.ts[j].k; k != 0 {
				t := a.ts[i]
				t.k = k
				out.ts = append(out.ts, t)
			}
			i++
			j++
		}
	}
	return out
}

// Neg returns -a.
func Neg(a Dim) Dim { return scale(a, -1) }

// Sub returns a-b.
func Sub(a, b Dim) Dim { return Add(a, Neg(b)) }

func scale(a Dim, k int64) Dim {
	if a.unknown {
		return a
	}
	if a.IsFloat() {
		return Unknown()
	}
	if k == 0 {
		return Int(0)
	}
	out := Dim{c: a.c * k, ts: make([]term, len(a.ts))}
	for i, t := range a.ts {
		t.k *= k
		out.ts[i] = t
	}
	return out
}

// Mul returns a*b.
func Mul(a, b Dim) Dim {
	if isFloatArg(a, b) {
		return Unknown()
	}
	if a.unknown || b.unknown {
		// 0 times anything is 0 even when the other factor is unknown.
		if a.IsKnown() && a.c == 0 || b.IsKnown() && b.c == 0 {
			return Int(0)
		}
		return Unknown()
	}
	if len(a.ts) == 0 {
		return scale(b, a.c)
	}
	if len(b.ts) == 0 {
		return scale(a, b.c)
	}
	out := scale(b, a.c)
	for _, ta := range a.ts {
		out = Add(out, scale(monoMul(ta, Dim{c: b.c}), 1))
		for _, tb := range b.ts {
			out = Add(out, Dim{ts: []term{mulTerms(ta, tb)}})
		}
	}
	return out
}

func monoMul(t term, c Dim) Dim {
	if c.c == 0 {
		return Int(0)
	}
	t.k *= c.c
	return Dim{ts: []term{t}}
}

func mulTerms(a, b term) term {
	f := make([]*atom, 0, len(a.f)+len(b.f))
	f = append(f, a.f...)
	f = append(f, b.f...)
	sort.SliceStable(f, func(i, j int) bool { return f[i].key < f[j].key })
	return term{k: a.k * b.k, f: f, key: monoKey(f)}
}

func monoKey(f []*atom) string {
	if len(f) == 1 {
		return f[0].key
	}
	parts := make([]string, len(f))
	for i, a := range f {
		parts[i] = a.key
	}
	return strings.Join(parts, "*")
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func floorMod(a, b int64) int64 {
	m := a % b
	if m != 0 && ((m < 0) != (b < 0)) {
		m += b
	}
	return m
}

// exactDiv returns a/b when b divides a term by term.
func exactDiv(a, b Dim) (Dim, bool) {
	if a.unknown || b.unknown {
		return Dim{}, false
	}
	if b.IsKnown() {
		if b.c == 0 {
			return Dim{}, false
		}
		if a.c%b.c != 0 {
			return Dim{}, false
		}
		for _, t := range a.ts {
			if t.k%b.c != 0 {
				return Dim{}, false
			}
		}
		out := Dim{c: a.c / b.c, ts: make([]term, len(a.ts))}
		for i, t := range a.ts {
			t.k /= b.c
			out.ts[i] = t
		}
		return out, true
	}
	if Equal(a, b) {
		return Int(1), true
	}
	// a an integer multiple of b: the anchors of all levels over the
	// positions of all levels, 9*(x+y+...)/(x+y+...).
	if len(a.ts) == len(b.ts) && len(b.ts) > 0 && a.ts[0].key == b.ts[0].key && a.ts[0].k%b.ts[0].k == 0 {
		if k := a.ts[0].k / b.ts[0].k; Equal(a, scale(b, k)) {
			return Int(k), true
		}
	}
	if b.c != 0 || len(b.ts) != 1 || a.c != 0 {
		return Dim{}, false
	}
	tb := b.ts[0]
	out := Int(0)
	for _, t := range a.ts {
		if t.k%tb.k != 0 {
			return Dim{}, false
		}
		rest, ok := removeAtoms(t.f, tb.f)
		if !ok {
			return Dim{}, false
		}
		var q Dim
		if len(rest) == 0 {
			q = Int(t.k / tb.k)
		} else {
			q = Dim{ts: []term{{k: t.k / tb.k, f: rest, key: monoKey(rest)}}}
		}
		out = Add(out, q)
	}
	return out, true
}

// removeAtoms returns f without the atoms of g (both sorted), if g ⊆ f.
func removeAtoms(f, g []*atom) ([]*atom, bool) {
	var out []*atom
	j := 0
	for _, a := range f {
		if j < len(g) && g[j].key == a.key {
			j++
			continue
		}
		out = append(out, a)
	}
	return out, j == len(g)
}

// FloorDiv returns floor(a/b). Division by a known zero gives an unknown.
func FloorDiv(a, b Dim) Dim {
	if a.unknown || b.unknown || isFloatArg(a, b) {
		return Unknown()
	}
	if b.IsKnown() {
		switch b.c {
		case 0:
			return Unknown()
		case 1:
			return a
		}
		if a.IsKnown() {
			return Int(floorDiv(a.c, b.c))
		}
		if x, c, ok := nestedFloor(a, b.c); ok {
			return FloorDiv(x, Int(c))
		}
	}
	if q, ok := exactDiv(a, b); ok {
		return q
	}
	return fn("floor", a, b)
}

// nestedFloor folds a division of a floor division by a constant into one:
// for a = floor(x/c)+k with integers c > 0 and k, and an integer b > 0,
// floor(a/b) = floor((x+k*c)/(c*b)) (floor(x/c)+k is floor((x+k*c)/c), and
// floor(floor(y/c)/b) = floor(y/(c*b)) for positive integers c and b). A
// chain of strided convolutions or poolings, floor((floor((h-1)/2)+1-1)/2)...,
// then prints as one floor((h-1)/4) instead of a nest seven deep. It returns
// x+k*c and c*b, or false where a is not of that form or c*b overflows.
func nestedFloor(a Dim, b int64) (Dim, int64, bool) {
	if b <= 0 || len(a.ts) != 1 || a.ts[0].k != 1 || len(a.ts[0].f) != 1 {
		return Dim{}, 0, false
	}
	at := a.ts[0].f[0]
	if at.op != "floor" {
		return Dim{}, 0, false
	}
	c, known := at.args[1].Value()
	if !known || c <= 0 || c > math.MaxInt64/b {
		return Dim{}, 0, false
	}
	kc := a.c * c
	if a.c != 0 && (kc/c != a.c) {
		return Dim{}, 0, false
	}
	return Add(at.args[0], Int(kc)), c * b, true
}

// CeilDiv returns ceil(a/b).
func CeilDiv(a, b Dim) Dim {
	if b.IsKnown() && b.c > 0 {
		if q, ok := exactDiv(a, b); ok {
			return q
		}
		return FloorDiv(Add(a, Int(b.c-1)), b)
	}
	return Neg(FloorDiv(Neg(a), b))
}

// Mod returns a mod b with the sign of b (Python's %).
func Mod(a, b Dim) Dim {
	if a.unknown || b.unknown || isFloatArg(a, b) {
		return Unknown()
	}
	if b.IsKnown() {
		if b.c == 0 {
			return Unknown()
		}
		if a.IsKnown() {
			return Int(floorMod(a.c, b.c))
		}
	}
	if _, ok := exactDiv(a, b); ok {
		return Int(0)
	}
	return fn("mod", a, b)
}

// Max returns the larger of a and b.
func Max(a, b Dim) Dim { return minmax("max", a, b) }

// Min returns the smaller of a and b.
func Min(a, b Dim) Dim { return minmax("min", a, b) }

func minmax(op string, a, b Dim) Dim {
	if a.unknown || b.unknown {
		return Unknown()
	}
	if isFloatArg(a, b) {
		// Min and Max of float values (ReduceMax over a float tensor).
		return FloatBinary(op, a, b)
	}
	if Equal(a, b) {
		return a
	}
	// A known bound <= 0 against a dim that is never negative.
	if v, ok := a.Value(); ok && v <= 0 && b.NonNegative() {
		if op == "max" {
			return b
		}
		return a
	}
	if v, ok := b.Value(); ok && v <= 0 && a.NonNegative() {
		if op == "max" {
			return a
		}
		return b
	}
	if diff := Sub(a, b); diff.IsKnown() {
		if (diff.c > 0) == (op == "max") {
			return a
		}
		return b
	} else if diff.NonNegative() {
		// a >= b: Min(n, n+m) = n for dims.
		if op == "max" {
			return a
		}
		return b
	} else if Neg(diff).NonNegative() {
		if op == "max" {
			return b
		}
		return a
	}
	// max(a, min(a, x)) = a and min(a, max(a, x)) = a.
	other := "min"
	if op == "min" {
		other = "max"
	}
	if absorbs(a, b, other) {
		return a
	}
	if absorbs(b, a, other) {
		return b
	}
	if b.key() < a.key() {
		a, b = b, a
	}
	return fn(op, a, b)
}

// absorbs reports whether b is other(a, x) for some x.
func absorbs(a, b Dim, other string) bool {
	if b.c != 0 || len(b.ts) != 1 || b.ts[0].k != 1 || len(b.ts[0].f) != 1 {
		return false
	}
	at := b.ts[0].f[0]
	return at.op == other && (Equal(at.args[0], a) || Equal(at.args[1], a))
}

// NonNegative reports whether d is known to be >= 0 (see lowerBound).
func (d Dim) NonNegative() bool {
	lb, ok := d.lowerBound()
	if ok && lb >= 0 {
		return true
	}
	return d.shiftedNonNegative()
}

// shiftedNonNegative proves d >= 0 when its atoms have lower bounds below 0:
// each such atom a >= l is written l + a' with a' >= 0 and d expanded in the
// a'. The size of a strided convolution, g = floor((x-1)/2)+1 with
// floor((x-1)/2) >= -1, squared expands to f*f+f*2+1, which termwise proves
// nothing; in f' = f+1 it is f'*f'.
func (d Dim) shiftedNonNegative() bool {
	if d.unknown || d.IsFloat() || len(d.ts) > 32 {
		return false
	}
	shifted := false
	out := Int(d.c)
	for _, t := range d.ts {
		if t.k < 0 && len(t.f) == 1 {
			return false // nothing below bounds it
		}
		p := Int(t.k)
		for _, a := range t.f {
			x := Dim{ts: []term{{k: 1, f: []*atom{a}, key: a.key}}}
			l, ok := a.lowerBound()
			if !ok {
				return false
			}
			if l < 0 {
				shifted = true
				x = Add(Symbol("\x00"+a.key), Int(l))
			}
			p = Mul(p, x)
		}
		out = Add(out, p)
	}
	if !shifted {
		return false
	}
	lb, ok := out.lowerBound()
	return ok && lb >= 0
}

// LowerBound returns an integer that d is known to be at least, if one is
// known (see lowerBound).
func (d Dim) LowerBound() (int64, bool) { return d.lowerBound() }

// lowerBound returns an integer that d is known to be at least: symbols are
// dims (>= 0); floor(a/b) by a known b > 0 is at least floor(lb(a)/b), and
// by a dim b is >= 0 when a is; Mod by a positive divisor, Max, Min and the
// integers of non-negative float values are bounded by their arguments; a
// term with a negative coefficient has no lower bound. So the size of a
// strided convolution, floor((x-1)/2)+1, is known to be >= 0.
func (d Dim) lowerBound() (int64, bool) {
	if d.unknown || d.IsFloat() {
		return 0, false
	}
	lb := d.c
	for _, t := range d.ts {
		if t.k < 0 {
			return 0, false
		}
		if len(t.f) == 1 {
			l, ok := t.f[0].lowerBound()
			if !ok || l < -(1<<40) || l > 1<<40 {
				return 0, false
			}
			lb += t.k * l
			continue
		}
		// A product: >= 0 when every factor is.
		for _, a := range t.f {
			if l, ok := a.lowerBound(); !ok || l < 0 {
				return 0, false
			}
		}
	}
	return lb, true
}

func (a *atom) lowerBound() (int64, bool) {
	switch a.op {
	case "":
		return 0, true
	case "int":
		return 0, floatNonNeg(a.args[0])
	case "floor":
		la, ok := a.args[0].lowerBound()
		if !ok {
			return 0, false
		}
		if b, known := a.args[1].Value(); known {
			if b <= 0 {
				return 0, false
			}
			return floorDiv(la, b), true
		}
		return 0, la >= 0 && a.args[1].NonNegative()
	case "mod":
		if b, known := a.args[1].Value(); known {
			return 0, b > 0
		}
		return 0, a.args[0].NonNegative() && a.args[1].NonNegative()
	case "max":
		l0, ok0 := a.args[0].lowerBound()
		l1, ok1 := a.args[1].lowerBound()
		switch {
		case ok0 && ok1:
			return max(l0, l1), true
		case ok0:
			return l0, true
		}
		return l1, ok1
	case "min":
		l0, ok0 := a.args[0].lowerBound()
		l1, ok1 := a.args[1].lowerBound()
		return min(l0, l1), ok0 && ok1
	}
	return 0, false
}

func fn(op string, a, b Dim) Dim {
	at := &atom{op: op, args: []Dim{a, b}}
	at.key = at.String()
	return Dim{ts: []term{{k: 1, f: []*atom{at}, key: at.key}}}
}

func (d Dim) key() string { return d.String() }

// String is d's canonical text, used as an ONNX dim_param. It reads as Python
// with sympy's functions (floor, Mod, Max, Min), so that sympy can evaluate it:
// "batch", "sequence*2", "batch*sequence", "floor(sequence/2)", "sequence+1".
// An unknown dim prints as "?".
func (d Dim) String() string {
	if d.unknown {
		return "?"
	}
	if len(d.ts) == 0 {
		return strconv.FormatInt(d.c, 10)
	}
	var b strings.Builder
	first := true
	// Positive terms first, so that "sequence-1" rather than "-1+sequence".
	for pass := 0; pass < 2; pass++ {
		for _, t := range d.ts {
			if (t.k > 0) != (pass == 0) {
				continue
			}
			k := t.k
			switch {
			case k < 0:
				b.WriteByte('-')
				k = -k
			case !first:
				b.WriteByte('+')
			}
			first = false
			for i, a := range t.f {
				if i > 0 {
					b.WriteByte('*')
				}
				b.WriteString(a.String())
			}
			if k != 1 {
				b.WriteByte('*')
				b.WriteString(strconv.FormatInt(k, 10))
			}
		}
	}
	if d.c > 0 {
		b.WriteByte('+')
		b.WriteString(strconv.FormatInt(d.c, 10))
	} else if d.c < 0 {
		b.WriteString(strconv.FormatInt(d.c, 10))
	}
	return b.String()
}

func (a *atom) String() string {
	if a.prec != 0 {
		return a.floatString()
	}
	switch a.op {
	case "int":
		// An integral float value: its text is the integer's.
		return a.args[0].String()
	case "":
		return a.name
	case "floor":
		return "floor(" + paren(a.args[0]) + "/" + paren(a.args[1]) + ")"
	case "mod":
		return "Mod(" + a.args[0].String() + ", " + a.args[1].String() + ")"
	case "max":
		return "Max(" + a.args[0].String() + ", " + a.args[1].String() + ")"
	case "min":
		return "Min(" + a.args[0].String() + ", " + a.args[1].String() + ")"
	}
	return "?"
}

// paren wraps compound expressions so that a/b binds as meant.
func paren(d Dim) string {
	s := d.String()
	if d.IsKnown() {
		if d.c < 0 {
			return "(" + s + ")"
		}
		return s
	}
	if _, ok := d.IsSymbol(); ok {
		return s
	}
	return "(" + s + ")"
}

// Merge combines two descriptions of the same dim and returns the more
// specific one: a known value over a symbol, either over an unknown. ok is
// false when both are known or symbolic and differ; the first is then returned.
func Merge(a, b Dim) (Dim, bool) {
	switch {
	case a.unknown:
		return b, true
	case b.unknown:
		return a, true
	case Equal(a, b):
		return a, true
	case a.IsKnown() && b.IsKnown():
		return a, false
	case a.IsKnown():
		return a, true
	case b.IsKnown():
		return b, true
	}
	return a, false
}

// Subst returns d with each symbol that f maps replaced by f's dim.
func (d Dim) Subst(f func(name string) (Dim, bool)) Dim {
	if d.unknown || len(d.ts) == 0 {
		return d
	}
	if d.IsFloat() {
		if x := substFloat(d.fatom(), f); !Equal(x, d) {
			return x
		}
		return d
	}
	out := Int(d.c)
	changed := false
	for _, t := range d.ts {
		p := Int(t.k)
		for _, a := range t.f {
			var x Dim
			switch a.op {
			case "":
				r, ok := f(a.name)
				if ok {
					changed = true
					x = r
				} else {
					x = Dim{ts: []term{{k: 1, f: []*atom{a}, key: a.key}}}
				}
			case "int":
				x = substFloat(a, f)
				changed = changed || !Equal(x, Dim{ts: []term{{k: 1, f: []*atom{a}, key: a.key}}})
			default:
				if a.prec != 0 {
					x = substFloat(a, f)
					changed = changed || !Equal(x, Dim{ts: []term{{k: 1, f: []*atom{a}, key: a.key}}})
					break
				}
				l, r := a.args[0].Subst(f), a.args[1].Subst(f)
				if !Equal(l, a.args[0]) || !Equal(r, a.args[1]) {
					changed = true
				}
				switch a.op {
				case "floor":
					x = FloorDiv(l, r)
				case "mod":
					x = Mod(l, r)
				case "max":
					x = Max(l, r)
				case "min":
					x = Min(l, r)
				}
			}
			p = Mul(p, x)
		}
		out = Add(out, p)
	}
	if !changed {
		return d
	}
	return out
}
