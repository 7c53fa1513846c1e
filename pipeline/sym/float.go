// float.go: the values of small float tensors in shape arithmetic, exact to
// IEEE float32 or float64 semantics.
//
// Exporters compute sizes in floating point (torchvision's detection
// transform: scale = min(320/min(h, w), 640/max(h, w)) in float32, then
// floor(h*scale); padding to a stride: ceil(h/32)*32 in float32). A rational
// expression such as floor(h*320/min(h, w)) is not what the runtime computes:
// float32 rounds 1/600 and h*s, so floor(600*fl(1/600)*320) may be 319 where
// the rational answer is 320. A wrong dim is a broken promise, so a float
// value here is the exact sequence of rounded operations the graph performs,
// and an integer taken from it (Cast to int, of a Floor or Ceil) is an atom
// that denotes that sequence. With known inputs the operations are carried out
// in float32 or float64, as the runtime does, and give numbers; with symbols
// they stay an expression whose text names each rounded operation:
//
//	f32(d)         the integer dim d converted to float32 (rounded to nearest even)
//	fmul32(a, b)   a*b rounded to float32; fdiv32, fadd32, fsub32 likewise
//	fsqrt32(a)     the square root rounded to float32
//	fmin32(a, b)   the smaller value; fmax32 the larger (no rounding)
//	floor(a)       the largest integer <= a; ceiling(a) the smallest >= a
//	320            a float constant that is an integer
//	fdiv32(m, 2^k) a float constant that is not (m odd, 2^k written out): exact
//
// and the 64 suffix for float64. floor and ceiling are sympy's, and the other
// names read as undefined functions to sympy, so an evaluator that knows them
// (bench/zoo.py gives sympy definitions) can check these dims at given sizes.
// A float value is a Dim of one float atom; integer arithmetic on it gives
// an unknown (use the Float functions), so float and integer semantics never
// mix by accident.
package sym

import (
	"math"
	"strconv"
)

// Float precisions.
const (
	F32 = 32
	F64 = 64
)

// float ops, with the text of each (the precision suffix is added).
var floatOps = map[string]string{
	"fconst": "", "fcast": "f", "fmul": "fmul", "fdiv": "fdiv", "fadd": "fadd", "fsub": "fsub",
	"fsqrt": "fsqrt", "fmin": "fmin", "fmax": "fmax", "ffloor": "floor", "fceil": "ceiling",
}

// IsFloat reports whether d is a float value (made by the Float functions).
func (d Dim) IsFloat() bool {
	return !d.unknown && d.c == 0 && len(d.ts) == 1 && d.ts[0].k == 1 && len(d.ts[0].f) == 1 && d.ts[0].f[0].prec != 0
}

// isFloatArg reports whether either operand is a float value, which integer
// arithmetic must not take.
func isFloatArg(a, b Dim) bool { return a.IsFloat() || b.IsFloat() }

func (d Dim) fatom() *atom { return d.ts[0].f[0] }

// FloatPrec returns the precision (F32 or F64) of a float value, 0 otherwise.
func (d Dim) FloatPrec() int {
	if !d.IsFloat() {
		return 0
	}
	return int(d.fatom().prec)
}

// FloatValue returns a float value's number when it is a constant.
func (d Dim) FloatValue() (float64, bool) {
	if !d.IsFloat() || d.fatom().op != "fconst" {
		return 0, false
	}
	return d.fatom().f, true
}

// round rounds v to the precision.
func round(v float64, prec int) float64 {
	if prec == F32 {
		return float64(float32(v))
	}
	return v
}

// FloatConst returns the float constant v rounded to the precision. Values
// whose text we cannot write exactly (infinities, NaN, magnitudes beyond
// 2^62 or finer than 2^-62) are unknown.
func FloatConst(v float64, prec int) Dim {
	if prec != F32 && prec != F64 {
		return Unknown()
	}
	v = round(v, prec)
	if v == 0 {
		v = 0 // -0 and +0 print and compare alike; no dim tells them apart
	}
	a := &atom{op: "fconst", f: v, prec: uint8(prec)}
	a.key = a.String()
	if a.key == "?" {
		return Unknown()
	}
	return Dim{ts: []term{{k: 1, f: []*atom{a}, key: a.key}}}
}

// constText writes a float constant exactly: an integer in decimal, any other
// value as fdivP(m, 2^k) with m odd; "?" when that does not fit in int64.
func constText(v float64, prec int) string {
	if math.IsInf(v, 0) || math.IsNaN(v) || math.Abs(v) >= 1<<62 {
		return "?"
	}
	if v == math.Trunc(v) {
		return strconv.FormatInt(int64(v), 10)
	}
	k := 0
	for v != math.Trunc(v) {
		v *= 2 // exact: a power of two
		k++
		if k > 62 || math.Abs(v) >= 1<<62 {
			return "?"
		}
	}
	return "fdiv" + strconv.Itoa(prec) + "(" + strconv.FormatInt(int64(v), 10) + ", " + strconv.FormatInt(int64(1)<<k, 10) + ")"
}

func mkFloat(op string, prec int, args ...Dim) Dim {
	for _, x := range args {
		if x.unknown {
			return Unknown()
		}
	}
	a := &atom{op: op, args: args, prec: uint8(prec)}
	a.key = a.String()
	return Dim{ts: []term{{k: 1, f: []*atom{a}, key: a.key}}}
}

// IntToFloat is Cast from an integer type to a float type: the dim rounded
// to the precision.
func IntToFloat(d Dim, prec int) Dim {
	if d.unknown || d.IsFloat() || (prec != F32 && prec != F64) {
		return Unknown()
	}
	if v, ok := d.Value(); ok {
		if prec == F32 {
			return FloatConst(float64(float32(v)), prec) // one rounding, int64 to float32
		}
		return FloatConst(float64(v), prec)
	}
	// The integer of a float value of this precision converts back exactly.
	if d.c == 0 && len(d.ts) == 1 && d.ts[0].k == 1 && len(d.ts[0].f) == 1 {
		if a := d.ts[0].f[0]; a.op == "int" && int(a.args[0].fatom().prec) == prec {
			return a.args[0]
		}
	}
	return mkFloat("fcast", prec, d)
}

// FloatToFloat is Cast between float types.
func FloatToFloat(f Dim, prec int) Dim {
	if !f.IsFloat() {
		return Unknown()
	}
	if f.FloatPrec() == prec {
		return f
	}
	if v, ok := f.FloatValue(); ok {
		return FloatConst(v, prec)
	}
	return Unknown()
}

// integral reports whether a float value is always an integer (or an
// infinity): floors, ceilings, converted integers, and sums, differences,
// products, minima and maxima of such values (a rounded result of integers
// is an integer: below 2^24 (2^53) it is exact, above every float is one).
func integral(f Dim) bool {
	a := f.fatom()
	switch a.op {
	case "fconst":
		return a.f == math.Trunc(a.f)
	case "fcast", "ffloor", "fceil":
		return true
	case "fmul", "fadd", "fsub", "fmin", "fmax":
		return integral(a.args[0]) && integral(a.args[1])
	}
	return false
}

// floatNonNeg reports whether a float value is known to be >= 0 (or NaN).
func floatNonNeg(f Dim) bool {
	a := f.fatom()
	switch a.op {
	case "fconst":
		return a.f >= 0
	case "fcast":
		return a.args[0].NonNegative()
	case "fsqrt", "ffloor", "fceil":
		return floatNonNeg(a.args[0])
	case "fmul", "fdiv", "fadd", "fmin", "fmax":
		return floatNonNeg(a.args[0]) && floatNonNeg(a.args[1])
	}
	return false
}

// FloatToInt is Cast from a float type to an integer type, which truncates:
// a number for a constant; for an expression, the integer it denotes when it
// is integral, or the floor of a value known to be >= 0; else unknown.
func FloatToInt(f Dim) Dim {
	if !f.IsFloat() {
		return Unknown()
	}
	if v, ok := f.FloatValue(); ok {
		t := math.Trunc(v)
		if math.Abs(t) >= 1<<62 {
			return Unknown()
		}
		return Int(int64(t))
	}
	if !integral(f) {
		if !floatNonNeg(f) {
			return Unknown()
		}
		f = FloatFloor(f)
	}
	a := &atom{op: "int", args: []Dim{f}}
	a.key = a.String()
	return Dim{ts: []term{{k: 1, f: []*atom{a}, key: a.key}}}
}

// FloatFloor is Floor.
func FloatFloor(f Dim) Dim { return floatRound("ffloor", f, math.Floor) }

// FloatCeil is Ceil.
func FloatCeil(f Dim) Dim { return floatRound("fceil", f, math.Ceil) }

func floatRound(op string, f Dim, g func(float64) float64) Dim {
	if !f.IsFloat() {
		return Unknown()
	}
	if v, ok := f.FloatValue(); ok {
		return FloatConst(g(v), f.FloatPrec())
	}
	if integral(f) {
		return f
	}
	return mkFloat(op, f.FloatPrec(), f)
}

// FloatSqrt is Sqrt, rounded to the precision.
func FloatSqrt(f Dim) Dim {
	if !f.IsFloat() {
		return Unknown()
	}
	if v, ok := f.FloatValue(); ok {
		if v < 0 {
			return Unknown()
		}
		if f.FloatPrec() == F32 {
			return FloatConst(float64(float32(math.Sqrt(v))), F32) // correctly rounded: sqrt of a float32 in float64 rounds once
		}
		return FloatConst(math.Sqrt(v), F64)
	}
	return mkFloat("fsqrt", f.FloatPrec(), f)
}

// FloatBinary is Add ("+"), Sub ("-"), Mul ("*"), Div ("/"), Min ("min") or
// Max ("max") of two float values of one precision, rounded as the runtime
// rounds. An integer operand is not taken (Cast it first).
func FloatBinary(op string, a, b Dim) Dim {
	if !a.IsFloat() || !b.IsFloat() || a.FloatPrec() != b.FloatPrec() {
		return Unknown()
	}
	prec := a.FloatPrec()
	x, okx := a.FloatValue()
	y, oky := b.FloatValue()
	if okx && oky {
		return FloatConst(evalFloat(op, x, y, prec), prec)
	}
	name := map[string]string{"+": "fadd", "-": "fsub", "*": "fmul", "/": "fdiv", "min": "fmin", "max": "fmax"}[op]
	if name == "" {
		return Unknown()
	}
	// Exact identities: x*1, 1*x, x/1.
	switch {
	case (op == "*" || op == "/") && oky && y == 1:
		return a
	case op == "*" && okx && x == 1:
		return b
	case (op == "min" || op == "max") && Equal(a, b):
		return a
	}
	// IEEE addition, multiplication, min and max commute: one text for both orders.
	if op != "-" && op != "/" && b.key() < a.key() {
		a, b = b, a
	}
	return mkFloat(name, prec, a, b)
}

// evalFloat carries out one operation in the precision. Each float32 result
// is converted explicitly, which forbids fusing two operations into one
// rounding (the Go spec allows fusion otherwise).
func evalFloat(op string, x, y float64, prec int) float64 {
	if prec == F32 {
		a, b := float32(x), float32(y)
		var r float32
		switch op {
		case "+":
			r = float32(a + b)
		case "-":
			r = float32(a - b)
		case "*":
			r = float32(a * b)
		case "/":
			r = float32(a / b)
		case "min":
			r = min(a, b)
		case "max":
			r = max(a, b)
		default:
			return math.NaN()
		}
		return float64(r)
	}
	switch op {
	case "+":
		return float64(x + y)
	case "-":
		return float64(x - y)
	case "*":
		return float64(x * y)
	case "/":
		return float64(x / y)
	case "min":
		return min(x, y)
	case "max":
		return max(x, y)
	}
	return math.NaN()
}

// floatString is the text of a float atom.
func (a *atom) floatString() string {
	p := strconv.Itoa(int(a.prec))
	switch a.op {
	case "fconst":
		return constText(a.f, int(a.prec))
	case "ffloor", "fceil":
		return floatOps[a.op] + "(" + a.args[0].String() + ")"
	case "fcast", "fsqrt":
		return floatOps[a.op] + p + "(" + a.args[0].String() + ")"
	}
	return floatOps[a.op] + p + "(" + a.args[0].String() + ", " + a.args[1].String() + ")"
}

// substFloat rebuilds a float atom (or the integer of one) with substituted
// arguments, folding what became constant.
func substFloat(a *atom, f func(name string) (Dim, bool)) Dim {
	args := make([]Dim, len(a.args))
	for i, x := range a.args {
		args[i] = x.Subst(f)
	}
	prec := int(a.prec)
	switch a.op {
	case "int":
		return FloatToInt(args[0])
	case "fconst":
		return FloatConst(a.f, prec)
	case "fcast":
		return IntToFloat(args[0], prec)
	case "ffloor":
		return FloatFloor(args[0])
	case "fceil":
		return FloatCeil(args[0])
	case "fsqrt":
		return FloatSqrt(args[0])
	}
	op := map[string]string{"fadd": "+", "fsub": "-", "fmul": "*", "fdiv": "/", "fmin": "min", "fmax": "max"}[a.op]
	return FloatBinary(op, args[0], args[1])
}
