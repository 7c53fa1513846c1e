// elementwise.go: unary and broadcasting operators whose output shape follows
// their inputs' shapes, with value propagation for small integer tensors.

package infer

import (
	"strings"

	"github.com/quantprep/quantprep/pipeline/opset"
	"github.com/quantprep/quantprep/pipeline/sym"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// each makes one entry per name with the same Since and inference.
func each(domain string, since int64, f func(*Context) error, names ...string) []Op {
	out := make([]Op, len(names))
	for i, n := range names {
		out[i] = Op{Domain: domain, Name: n, Since: since, Rule: f}
	}
	return out
}

func concatOps(lists ...[]Op) []Op { return opset.Join(lists...) }

var elementwiseOps = concatOps(
	forms("Dropout", inferDropout, 1, 10), // 10: the mask is bool
	// 6: to is a number, not a name; 19-25: the new element types a node
	// may cast to (elemKnownAt).
	forms("Cast", inferCast, 1, 6, 9, 13, 19, 21, 23, 24, 25),
	// Same type and shape as input 0, from each operator's first version;
	// later versions differ in types and attributes, not in output shape
	// (the markers below say so version by version).
	each("", 1, inferUnary,
		"Elu", "Exp", "HardSigmoid", "Hardmax", "LeakyRelu", "Log", "LogSoftmax",
		"Relu", "Selu", "Sigmoid", "Softmax", "Softplus", "Softsign", "Tanh",
		"LpNormalization", "LRN"),
	each("", 7, inferUnary,
		"Acos", "Asin", "Atan", "Cos", "Sin", "Tan"),
	each("", 9, inferUnary,
		"Acosh", "Asinh", "Atanh", "Cosh", "Erf", "Shrink", "Sign", "Sinh",
		"MeanVarianceNormalization", "Scatter"),
	each("", 10, inferUnary,
		"ThresholdedRelu", "ReverseSequence"),
	each("", 11, inferUnary,
		"Round", "CumSum", "ScatterElements", "ScatterND"),
	each("", 12, inferUnary,
		"Celu"),
	each("", 14, inferUnary,
		"HardSwish", "Trilu"),
	each("", 18, inferUnary,
		"Mish", "BitwiseNot"),
	each("", 20, inferUnary,
		"Gelu"),
	each("", 24, inferUnary,
		"Swish"),
	each("", 26, inferUnary, "CumProd"),
	each("", 20, inferUnaryBool, "RegexFullMatch"),
	[]Op{
		{Name: "Identity", Since: 1, Rule: inferIdentity},
		// Float shape arithmetic (values.go): rounding as the runtime rounds.
		{Name: "Floor", Since: 1, Rule: inferFloatMap(sym.FloatFloor)},
		{Name: "Ceil", Since: 1, Rule: inferFloatMap(sym.FloatCeil)},
		{Name: "Sqrt", Since: 1, Rule: inferFloatMap(sym.FloatSqrt)},
		{Name: "Reciprocal", Since: 1, Rule: inferFloatMap(func(d sym.Dim) sym.Dim {
			return sym.FloatBinary("/", sym.FloatConst(1, d.FloatPrec()), d)
		})},
		{Name: "Abs", Since: 1, Rule: inferMapValues(func(d sym.Dim) sym.Dim {
			if d.NonNegative() {
				return d
			}
			return mapKnown(d, func(x int64) int64 { return max(x, -x) })
		})},
		{Name: "Neg", Since: 1, Rule: inferNeg},
		{Name: "Clip", Since: 1, Rule: inferUnary},
		{Name: "IsNaN", Since: 9, Rule: inferUnaryBool},
		{Name: "IsInf", Since: 10, Rule: inferUnaryBool},
		{Name: "CastLike", Since: 15, Rule: inferCastLike},
		{Name: "BitCast", Since: 26, Rule: inferBitCast},
		{Name: "PRelu", Since: 1, Rule: inferBinaryOp("")},
		{Name: "StringConcat", Since: 20, Rule: inferBinaryOp("")},
		{Name: "Pow", Since: 1, Rule: inferBinaryOp("")},
		{Name: "Add", Since: 1, Rule: inferBinaryOp("+")},
		{Name: "Sub", Since: 1, Rule: inferBinaryOp("-")},
		{Name: "Mul", Since: 1, Rule: inferBinaryOp("*")},
		{Name: "Div", Since: 1, Rule: inferBinaryOp("/")},
		{Name: "Mod", Since: 10, Rule: inferBinaryOp("%")},
		{Name: "BitShift", Since: 11, Rule: inferBinaryOp("")},
		{Name: "BitwiseAnd", Since: 18, Rule: inferBinaryOp("")},
		{Name: "BitwiseOr", Since: 18, Rule: inferBinaryOp("")},
		{Name: "BitwiseXor", Since: 18, Rule: inferBinaryOp("")},
		{Name: "Max", Since: 1, Rule: inferVariadic("max")},
		{Name: "Min", Since: 1, Rule: inferVariadic("min")},
		{Name: "Sum", Since: 1, Rule: inferVariadic("")},
		{Name: "Mean", Since: 1, Rule: inferVariadic("")},
	},
	// Versions where ONNX changed the schema and the row before still holds.
	same("Abs", whyConsumed, 6),
	same("Abs", whyTypes, 13),
	same("Acos", whyNewTypes, 22),
	same("Acosh", whyNewTypes, 22),
	same("Add", whyConsumed, 6),
	same("Add", whyLegacyBroadcast, 7),
	same("Add", whyTypes, 13, 14),
	same("Asin", whyNewTypes, 22),
	same("Asinh", whyNewTypes, 22),
	same("Atan", whyNewTypes, 22),
	same("Atanh", whyNewTypes, 22),
	same("CastLike", whyNewTypes, 19, 21, 23, 24, 25),
	same("Ceil", whyConsumed, 6),
	same("Ceil", whyTypes, 13),
	same("Clip", whyConsumed, 6),
	same("Clip", "min and max became inputs: the output has the input's shape either way", 11),
	same("Clip", whyTypes, 12, 13),
	same("Cos", whyNewTypes, 22),
	same("Cosh", whyNewTypes, 22),
	same("CumSum", whyTypes, 14),
	same("Div", whyConsumed, 6),
	same("Div", whyLegacyBroadcast, 7),
	same("Div", whyTypes, 13, 14),
	same("Dropout", whyConsumed, 6),
	same("Dropout", whyIsTest, 7),
	same("Dropout", "ratio and training_mode became inputs: the outputs have the data's shape either way", 12),
	same("Dropout", whyTypes, 13),
	same("Dropout", whyNewTypes, 22),
	same("Elu", whyConsumed, 6),
	same("Elu", whyNewTypes, 22),
	same("Erf", whyTypes, 13),
	same("Exp", whyConsumed, 6),
	same("Exp", whyTypes, 13),
	same("Floor", whyConsumed, 6),
	same("Floor", whyTypes, 13),
	same("HardSigmoid", whyConsumed, 6),
	same("HardSigmoid", whyNewTypes, 22),
	same("HardSwish", whyNewTypes, 22),
	same("Hardmax", whyNegAxes, 11),
	same("Hardmax", whyTypes, 13),
	same("Identity", whyTypes, 13, 14, 16),
	same("Identity", whyNewTypes, 19, 21, 23, 24, 25),
	same("IsInf", whyNewTypes, 20),
	same("IsNaN", whyTypes, 13),
	same("IsNaN", whyNewTypes, 20),
	same("LRN", whyTypes, 13),
	same("LeakyRelu", whyConsumed, 6),
	same("LeakyRelu", whyTypes, 16),
	same("Log", whyConsumed, 6),
	same("Log", whyTypes, 13),
	same("LogSoftmax", whyNegAxes, 11),
	same("LogSoftmax", whyTypes, 13),
	same("LpNormalization", whyNewTypes, 22),
	same("Max", whyConsumed, 6),
	same("Max", whyBroadcast, 8),
	same("Max", whyTypes, 12, 13),
	same("Mean", whyConsumed, 6),
	same("Mean", whyBroadcast, 8),
	same("Mean", whyTypes, 13),
	same("MeanVarianceNormalization", whyTypes, 13),
	same("Min", whyConsumed, 6),
	same("Min", whyBroadcast, 8),
	same("Min", whyTypes, 12, 13),
	same("Mish", whyNewTypes, 22),
	same("Mod", whyTypes, 13),
	same("Mul", whyConsumed, 6),
	same("Mul", whyLegacyBroadcast, 7),
	same("Mul", whyTypes, 13, 14),
	same("Neg", whyConsumed, 6),
	same("Neg", whyTypes, 13),
	same("PRelu", whyConsumed, 6),
	same("PRelu", whyBroadcast, 7),
	same("PRelu", whyTypes, 9, 16),
	same("Pow", whyLegacyBroadcast, 7),
	same("Pow", whyTypes, 12, 13, 15),
	same("Reciprocal", whyConsumed, 6),
	same("Reciprocal", whyTypes, 13),
	same("Relu", whyConsumed, 6),
	same("Relu", whyTypes, 13, 14),
	same("Round", whyNewTypes, 22),
	same("Scatter", whyNegAxes, 11),
	same("ScatterElements", whyTypes, 13),
	same("ScatterElements", whyReduction, 16, 18),
	same("ScatterND", whyTypes, 13),
	same("ScatterND", whyReduction, 16, 18),
	same("Selu", whyConsumed, 6),
	same("Selu", whyNewTypes, 22),
	same("Sigmoid", whyConsumed, 6),
	same("Sigmoid", whyTypes, 13),
	same("Sign", whyTypes, 13),
	same("Sin", whyNewTypes, 22),
	same("Sinh", whyNewTypes, 22),
	same("Softmax", whyNegAxes, 11),
	same("Softmax", whyTypes, 13),
	same("Softplus", whyNewTypes, 22),
	same("Softsign", whyNewTypes, 22),
	same("Sqrt", whyConsumed, 6),
	same("Sqrt", whyTypes, 13),
	same("Sub", whyConsumed, 6),
	same("Sub", whyLegacyBroadcast, 7),
	same("Sub", whyTypes, 13, 14),
	same("Sum", whyConsumed, 6),
	same("Sum", whyBroadcast, 8),
	same("Sum", whyTypes, 13),
	same("Tan", whyNewTypes, 22),
	same("Tanh", whyConsumed, 6),
	same("Tanh", whyTypes, 13),
	same("ThresholdedRelu", whyNewTypes, 22),
)

func inferUnary(c *Context) error {
	c.SetType(0, c.Type(0))
	return nil
}

func inferIdentity(c *Context) error {
	c.SetType(0, c.Type(0))
	if c.HasInput(0) && c.ins[0].tp != nil {
		// A constant stays a constant (Resize scales behind an Identity).
		c.out(0).tp = c.ins[0].tp
	}
	if v, ok := c.Values(0); ok {
		c.SetValues(0, v)
	}
	return nil
}

// inferMapValues is a unary operator whose elements map one by one.
func inferMapValues(f func(sym.Dim) sym.Dim) func(*Context) error {
	return func(c *Context) error {
		c.SetType(0, c.Type(0))
		if v, ok := c.Values(0); ok && c.Elem(0).IsInt() {
			out := make([]sym.Dim, len(v))
			for i, d := range v {
				out[i] = f(d)
			}
			c.SetValues(0, out)
		}
		return nil
	}
}

// inferFloatMap is a unary operator whose float values map one by one.
func inferFloatMap(f func(sym.Dim) sym.Dim) func(*Context) error {
	return func(c *Context) error {
		c.SetType(0, c.Type(0))
		mapFloatValues(c, c.Elem(0), f)
		return nil
	}
}

// mapKnown applies f to a known value; anything else is unknown.
func mapKnown(d sym.Dim, f func(int64) int64) sym.Dim {
	if x, ok := d.Value(); ok {
		return sym.Int(f(x))
	}
	return sym.Unknown()
}

func inferNeg(c *Context) error {
	c.SetType(0, c.Type(0))
	if v, ok := c.Values(0); ok {
		out := make([]sym.Dim, len(v))
		for i, d := range v {
			out[i] = sym.Neg(d)
		}
		c.SetValues(0, out)
	}
	return nil
}

func inferUnaryBool(c *Context) error {
	t := c.Type(0)
	t.Elem = tensor.Bool
	c.SetType(0, t)
	return nil
}

func inferDropout(c *Context, form int64) error {
	c.SetType(0, c.Type(0))
	if c.HasOutput(1) {
		t := c.Type(0)
		if form >= 10 {
			t.Elem = tensor.Bool
		}
		c.SetType(1, t)
	}
	if v, ok := c.Values(0); ok {
		c.SetValues(0, v)
	}
	return nil
}

func inferCast(c *Context, form int64) error {
	to := tensor.DType(c.Attrs().Int("to", 0))
	if form < 6 {
		// Cast-1 names the type as a string ("FLOAT").
		if d, ok := tensor.ByName(strings.ToLower(c.Attrs().String("to", ""))); ok {
			to = d
		}
	}
	if !elemKnownAt(to, form) {
		return c.Failf("Cast to unknown type %d", to)
	}
	t := c.Type(0)
	t.Elem = to
	c.SetType(0, t)
	castValues(c, to)
	return nil
}

// elemKnownAt says whether element type d exists at this opset: those the
// tensor package decodes, and the ones later opsets added (float4e2m1 at 23,
// float8e8m0 at 24, uint2 and int2 at 25), which pass through by number.
func elemKnownAt(d tensor.DType, opset int64) bool {
	switch d {
	case 23:
		return opset >= 23
	case 24:
		return opset >= 24
	case 25, 26:
		return opset >= 25
	}
	return d.Known()
}

// inferBitCast: the same shape, the bits read as type `to`, whose width must
// be the input's.
func inferBitCast(c *Context) error {
	to := tensor.DType(c.Attrs().Int("to", 0))
	if !elemKnownAt(to, 26) || to == tensor.String { // BitCast's first version
		return c.Failf("BitCast to type %d", to)
	}
	if from := c.Elem(0); from.Known() && to.Known() && from != tensor.String && from.Bits() != to.Bits() {
		return c.Failf("BitCast from %v (%d bits) to %v (%d bits)", from, from.Bits(), to, to.Bits())
	}
	t := c.Type(0)
	t.Elem = to
	c.SetType(0, t)
	return nil
}

func castValues(c *Context, to tensor.DType) {
	if prec := floatPrec(to); prec != 0 {
		// Integer or float values to a float type.
		from := c.Elem(0)
		if !from.IsInt() && floatPrec(from) == 0 || from == tensor.Bool {
			return
		}
		mapFloatValues(c, to, func(d sym.Dim) sym.Dim {
			if d.IsFloat() {
				return sym.FloatToFloat(d, prec)
			}
			return sym.IntToFloat(d, prec)
		})
		return
	}
	if !to.IsInt() {
		return
	}
	if v, ok := c.Values(0); ok && floatPrec(c.Elem(0)) != 0 && to != tensor.Bool {
		// Float values to an integer type: truncation.
		out := make([]sym.Dim, len(v))
		for i, d := range v {
			out[i] = sym.FloatToInt(d)
		}
		c.SetValues(0, out)
		return
	}
	if v, ok := c.Values(0); ok && c.Elem(0).IsInt() {
		if to == tensor.Bool {
			out := make([]sym.Dim, len(v))
			for i, d := range v {
				if x, ok := d.Value(); ok {
					out[i] = sym.Int(b2i(x != 0))
				} else {
					out[i] = sym.Unknown()
				}
			}
			v = out
		}
		c.SetValues(0, v)
		return
	}
	if f, ok := c.Floats(0); ok && len(f) <= maxValues {
		if _, ok := c.Rank(0); ok {
			out := make([]sym.Dim, len(f))
			for i, x := range f {
				if to == tensor.Bool {
					out[i] = sym.Int(b2i(x != 0))
				} else {
					out[i] = sym.Int(int64(x))
				}
			}
			c.SetValues(0, out)
		}
	}
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func inferCastLike(c *Context) error {
	t := c.Type(0)
	t.Elem = c.Elem(1)
	c.SetType(0, t)
	castValues(c, c.Elem(1))
	return nil
}

// broadcastInputs broadcasts the shapes of the given inputs; ok is false when
// a rank is unknown.
func broadcastInputs(c *Context, idx ...int) ([]sym.Dim, bool, error) {
	shapes := make([][]sym.Dim, 0, len(idx))
	for _, i := range idx {
		if !c.HasInput(i) {
			continue
		}
		sh, ok := c.Shape(i)
		if !ok {
			return nil, false, nil
		}
		shapes = append(shapes, sh)
	}
	out, err := c.Broadcast(shapes...)
	return out, err == nil, err
}

// setBroadcast types output 0 as elem with the broadcast shape of inputs idx
// and returns that shape. ok is false on an error, and when an input's shape
// is unknown: then the output has only its element type and err is nil, so
// that a rule can stop with `if !ok { return err }`.
func setBroadcast(c *Context, elem tensor.DType, idx ...int) (sh []sym.Dim, ok bool, err error) {
	sh, ok, err = broadcastInputs(c, idx...)
	if err != nil {
		return nil, false, err
	}
	if !ok {
		c.SetElem(0, elem)
		return nil, false, nil
	}
	c.SetTensor(0, elem, sh)
	return sh, true, nil
}

func firstElem(c *Context) tensor.DType {
	for i := 0; i < c.NumInputs(); i++ {
		if e := c.Elem(i); e != 0 {
			return e
		}
	}
	return 0
}

// inferBinaryOp returns inference for a broadcasting binary operator; op
// names the arithmetic used for value propagation ("" for none).
func inferBinaryOp(op string) func(*Context) error {
	return func(c *Context) error {
		elem := c.Elem(0)
		if elem == 0 && c.OpType() != "Pow" && c.OpType() != "BitShift" {
			elem = c.Elem(1)
		}
		var sh []sym.Dim
		var ok bool
		if c.OpType() == "PRelu" {
			// The output has X's shape; before opset 7 the slope is per
			// channel, so it need not broadcast numpy-style.
			sh, ok = c.Shape(0)
		} else {
			var err error
			if sh, ok, err = broadcastInputs(c, 0, 1); err != nil {
				return err
			}
		}
		if !ok {
			c.SetElem(0, elem)
			return nil
		}
		c.SetTensor(0, elem, sh)
		if (op == "+" || op == "-" || op == "*" || op == "/") && floatValuesOut(elem, sh) {
			propagate2(c, sh, func(a, b sym.Dim) sym.Dim { return sym.FloatBinary(op, a, b) })
			return nil
		}
		if op != "" && elem.IsInt() {
			propagate2(c, sh, dimArith(c, op))
		}
		return nil
	}
}

// dimArith is the integer arithmetic op ("+", "-", "*", "/", "%", "max",
// "min") on tracked values, as ONNX computes it, for binary and variadic
// operators alike; the result is unknown where it cannot be followed.
func dimArith(c *Context, op string) func(a, b sym.Dim) sym.Dim {
	return func(a, b sym.Dim) sym.Dim {
		switch op {
		case "+":
			return sym.Add(a, b)
		case "-":
			return sym.Sub(a, b)
		case "*":
			return sym.Mul(a, b)
		case "/":
			// Integer Div truncates toward zero; floor agrees when
			// the signs agree, which known-positive dims ensure.
			if x, ok := a.Value(); ok {
				if y, ok := b.Value(); ok && y != 0 {
					return sym.Int(x / y)
				}
			}
			return sym.FloorDiv(a, b)
		case "%":
			if c.Attrs().Int("fmod", 0) != 0 {
				if x, ok := a.Value(); ok {
					if y, ok := b.Value(); ok && y != 0 {
						return sym.Int(x % y)
					}
				}
				return sym.Unknown()
			}
			return sym.Mod(a, b)
		case "max":
			return sym.Max(a, b)
		case "min":
			return sym.Min(a, b)
		}
		return sym.Unknown()
	}
}

// propagate2 computes the elements of a binary operator's output from its
// inputs' values (rank 0 or 1, with broadcasting).
func propagate2(c *Context, out []sym.Dim, f func(a, b sym.Dim) sym.Dim) {
	if len(out) > 1 {
		propagateN(c, out, []int{0, 1}, func(args []sym.Dim) sym.Dim { return f(args[0], args[1]) })
		return
	}
	a, ok1 := c.Values(0)
	b, ok2 := c.Values(1)
	if !ok1 || !ok2 {
		return
	}
	n := max(len(a), len(b))
	if (len(a) != n && len(a) != 1) || (len(b) != n && len(b) != 1) {
		return
	}
	vals := make([]sym.Dim, n)
	for i := range vals {
		vals[i] = f(a[min(i, len(a)-1)], b[min(i, len(b)-1)])
	}
	c.SetValues(0, vals)
}

func inferVariadic(op string) func(*Context) error {
	return func(c *Context) error {
		idx := make([]int, c.NumInputs())
		for i := range idx {
			idx[i] = i
		}
		elem := firstElem(c)
		sh, ok, err := setBroadcast(c, elem, idx...)
		if !ok {
			return err
		}
		if op != "" && c.NumInputs() == 2 && floatValuesOut(elem, sh) {
			propagate2(c, sh, func(a, b sym.Dim) sym.Dim { return sym.FloatBinary(op, a, b) })
			return nil
		}
		if op != "" && c.NumInputs() == 2 && elem.IsInt() {
			propagate2(c, sh, dimArith(c, op))
		}
		return nil
	}
}
