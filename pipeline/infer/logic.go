// logic.go: comparisons, boolean operators and Where, with value
// propagation for shape arithmetic.

package infer

import (
	"github.com/quantprep/quantprep/pipeline/sym"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

var logicOps = concatOps(
	[]Op{
		{Name: "Not", Since: 1, Rule: inferMapValues(func(d sym.Dim) sym.Dim { return mapKnown(d, func(x int64) int64 { return b2i(x == 0) }) })},
		{Name: "Where", Since: 9, Rule: inferWhere},
	},
	each("", 1, inferCompare("=="), "Equal"),
	each("", 1, inferCompare("<"), "Less"),
	each("", 1, inferCompare(">"), "Greater"),
	each("", 12, inferCompare("<="), "LessOrEqual"),
	each("", 12, inferCompare(">="), "GreaterOrEqual"),
	each("", 1, inferCompare("and"), "And"),
	each("", 1, inferCompare("or"), "Or"),
	each("", 1, inferCompare("xor"), "Xor"),
	// Versions where ONNX changed the schema and the row before still holds.
	same("And", whyLegacyBroadcast, 7),
	same("Equal", whyLegacyBroadcast, 7),
	same("Equal", whyTypes, 11, 13, 19),
	same("Greater", whyLegacyBroadcast, 7),
	same("Greater", whyTypes, 9, 13),
	same("GreaterOrEqual", whyTypes, 16),
	same("Less", whyLegacyBroadcast, 7),
	same("Less", whyTypes, 9, 13),
	same("LessOrEqual", whyTypes, 16),
	same("Or", whyLegacyBroadcast, 7),
	same("Where", whyTypes, 16),
	same("Xor", whyLegacyBroadcast, 7),
)

func inferCompare(op string) func(*Context) error {
	return func(c *Context) error {
		sh, ok, err := setBroadcast(c, tensor.Bool, 0, 1)
		if !ok {
			return err
		}
		if op != "" {
			propagate2(c, sh, func(a, b sym.Dim) sym.Dim {
				d := sym.Sub(a, b)
				v, ok := d.Value()
				if !ok {
					// Dims are never negative: a dim compared with a
					// negative constant (torch's -1 placeholders) is decided.
					if bv, known := b.Value(); known && bv < 0 && a.NonNegative() {
						v, ok = 1, true
					} else if av, known := a.Value(); known && av < 0 && b.NonNegative() {
						v, ok = -1, true
					}
				}
				switch op {
				case "and", "or", "xor":
					x, okx := a.Value()
					y, oky := b.Value()
					switch {
					case op == "and" && (okx && x == 0 || oky && y == 0):
						return sym.Int(0)
					case op == "or" && (okx && x != 0 || oky && y != 0):
						return sym.Int(1)
					case !okx || !oky:
						return sym.Unknown()
					case op == "and":
						return sym.Int(1)
					case op == "or":
						return sym.Int(0)
					}
					return sym.Int(b2i((x != 0) != (y != 0)))
				}
				if !ok {
					return sym.Unknown()
				}
				switch op {
				case "==":
					return sym.Int(b2i(v == 0))
				case "<":
					return sym.Int(b2i(v < 0))
				case ">":
					return sym.Int(b2i(v > 0))
				case "<=":
					return sym.Int(b2i(v <= 0))
				case ">=":
					return sym.Int(b2i(v >= 0))
				}
				return sym.Unknown()
			})
		}
		return nil
	}
}

func inferWhere(c *Context) error {
	elem := c.Elem(1)
	if elem == 0 {
		elem = c.Elem(2)
	}
	sh, ok, err := setBroadcast(c, elem, 0, 1, 2)
	if !ok {
		return err
	}
	if len(sh) > 1 {
		propagateN(c, sh, []int{0, 1, 2}, func(a []sym.Dim) sym.Dim { return pickWhere(a[0], a[1], a[2]) })
		return nil
	}
	cond, ok0 := c.Values(0)
	x, ok1 := c.Values(1)
	y, ok2 := c.Values(2)
	if ok0 && ok1 && ok2 {
		n := 1
		if len(sh) == 1 {
			v, ok := sh[0].Value()
			if !ok {
				return nil
			}
			n = int(v)
		}
		pick := func(v []sym.Dim, i int) (sym.Dim, bool) {
			if len(v) == 1 {
				return v[0], true
			}
			if i < len(v) && len(v) == n {
				return v[i], true
			}
			return sym.Dim{}, false
		}
		out := make([]sym.Dim, n)
		for i := range out {
			cv, ok := pick(cond, i)
			a, oka := pick(x, i)
			b, okb := pick(y, i)
			if !ok || !oka || !okb {
				return nil
			}
			out[i] = pickWhere(cv, a, b)
		}
		c.SetValues(0, out)
	}
	return nil
}

// pickWhere is one element of Where: a where cond holds, else b.
func pickWhere(cond, a, b sym.Dim) sym.Dim {
	v, known := cond.Value()
	switch {
	case !known:
		if sym.Equal(a, b) {
			return a
		}
		return sym.Unknown()
	case v != 0:
		return a
	}
	return b
}
