package sym

import (
	"math"
	"testing"
)

var (
	height = Symbol("height")
	width  = Symbol("width")
)

// detScale is torchvision's resize scale for min_size 320 and max_size 640,
// as the exported graph computes it: min(320*(1/min(h, w)), 640*(1/max(h, w)))
// in float32.
func detScale(h, w Dim) Dim {
	recip := func(d Dim) Dim { return FloatBinary("/", FloatConst(1, F32), IntToFloat(d, F32)) }
	return FloatBinary("min",
		FloatBinary("*", recip(Min(h, w)), FloatConst(320, F32)),
		FloatBinary("*", recip(Max(h, w)), FloatConst(640, F32)))
}

// detSize is the resized height: floor(h*scale) in float32, cast to int64.
func detSize(h, w Dim) Dim {
	return FloatToInt(FloatFloor(FloatBinary("*", IntToFloat(h, F32), detScale(h, w))))
}

// padTo32 is the padded size: ceil(float32(d)/32)*32, cast to int64.
func padTo32(d Dim) Dim {
	c := FloatConst(32, F32)
	return FloatToInt(FloatBinary("*", FloatCeil(FloatBinary("/", IntToFloat(d, F32), c)), c))
}

func TestFloatAlgebra(t *testing.T) {
	tests := []struct {
		name string
		got  Dim
		want string
	}{
		{"const int", FloatConst(320, F32), "320"},
		{"const fraction", FloatConst(0.375, F32), "fdiv32(3, 8)"},
		{"const rounded to float32", FloatConst(0.1, F32), "fdiv32(13421773, 134217728)"},
		{"const float64", FloatConst(0.1, F64), "fdiv64(3602879701896397, 36028797018963968)"},
		{"const negative zero", FloatConst(math.Copysign(0, -1), F32), "0"},
		{"const inf", FloatConst(math.Inf(1), F32), "?"},
		{"cast known", IntToFloat(Int(7), F32), "7"},
		{"cast rounds to float32", IntToFloat(Int(1<<24+1), F32), "16777216"},
		{"cast float64 exact", IntToFloat(Int(1<<24+1), F64), "16777217"},
		{"cast symbol", IntToFloat(height, F32), "f32(height)"},
		{"cast back", IntToFloat(FloatToInt(FloatFloor(FloatBinary("*", IntToFloat(height, F32), FloatConst(0.5, F32)))), F32),
			"floor(fmul32(f32(height), fdiv32(1, 2)))"},
		{"float32 division", FloatBinary("/", FloatConst(1, F32), FloatConst(3, F32)), "fdiv32(11184811, 33554432)"},
		{"float32 product rounds", FloatBinary("*", IntToFloat(Int(25), F32),
			FloatBinary("*", FloatBinary("/", FloatConst(1, F32), FloatConst(25, F32)), FloatConst(320, F32))), "fdiv32(10485759, 32768)"}, // numpy: float32(25)*(float32(1)/float32(25)*float32(320))
		{"times one", FloatBinary("*", IntToFloat(height, F32), FloatConst(1, F32)), "f32(height)"},
		{"product commutes", FloatBinary("*", FloatConst(2, F32), IntToFloat(height, F32)), "fmul32(2, f32(height))"},
		{"product commutes 2", FloatBinary("*", IntToFloat(height, F32), FloatConst(2, F32)), "fmul32(2, f32(height))"},
		{"division keeps order", FloatBinary("/", FloatConst(2, F32), IntToFloat(height, F32)), "fdiv32(2, f32(height))"},
		{"min self", FloatBinary("min", IntToFloat(height, F32), IntToFloat(height, F32)), "f32(height)"},
		{"mixed precision", FloatBinary("+", FloatConst(1, F32), FloatConst(1, F64)), "?"},
		{"integer operand", FloatBinary("+", FloatConst(1, F32), Int(1)), "?"},
		{"floor of integral", FloatFloor(IntToFloat(height, F32)), "f32(height)"},
		{"floor const", FloatFloor(FloatConst(2.5, F32)), "2"},
		{"ceil const", FloatCeil(FloatConst(2.5, F32)), "3"},
		{"sqrt const", FloatSqrt(FloatConst(2, F32)), "fdiv32(11863283, 8388608)"},
		{"sqrt symbol", FloatSqrt(IntToFloat(height, F32)), "fsqrt32(f32(height))"},
		{"to int truncates", FloatToInt(FloatConst(-2.5, F32)), "-2"},
		{"to int of integral", FloatToInt(IntToFloat(height, F32)), "f32(height)"},
		{"to int of non-negative floors", FloatToInt(FloatBinary("/", IntToFloat(height, F32), FloatConst(3, F32))),
			"floor(fdiv32(f32(height), 3))"},
		{"to int of signed is unknown", FloatToInt(FloatBinary("-", FloatBinary("/", IntToFloat(height, F32), FloatConst(3, F32)), FloatConst(1, F32))), "?"},
		{"float to float same", FloatToFloat(IntToFloat(height, F32), F32), "f32(height)"},
		{"float to float const", FloatToFloat(FloatConst(0.1, F64), F32), "fdiv32(13421773, 134217728)"},
		{"integer arithmetic refuses floats", Add(IntToFloat(height, F32), Int(1)), "?"},
		{"integer product refuses floats", Mul(Int(2), IntToFloat(height, F32)), "?"},
		{"integer floor div refuses floats", FloorDiv(IntToFloat(height, F32), Int(2)), "?"},
		{"max of floats", Max(IntToFloat(height, F32), IntToFloat(width, F32)), "fmax32(f32(height), f32(width))"},
		{"max mixed", Max(IntToFloat(height, F32), width), "?"},
		{"integer of float in arithmetic", Sub(padTo32(height), height), "fmul32(32, ceiling(fdiv32(f32(height), 32)))-height"},
		{"resize size", detSize(height, width),
			"floor(fmul32(f32(height), fmin32(fmul32(320, fdiv32(1, f32(Min(height, width)))), fmul32(640, fdiv32(1, f32(Max(height, width)))))))"},
		{"pad size", padTo32(height), "fmul32(32, ceiling(fdiv32(f32(height), 32)))"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if s := tt.got.String(); s != tt.want {
				t.Errorf("got %s, want %s", s, tt.want)
			}
		})
	}
}

// TestFloatSubst: with known dims the expressions give what float32
// arithmetic gives, which is not always the rational answer: at 25x25 the
// scale rounds below 320/25 and floor(25*scale) is 319 (ONNX Runtime's size),
// where floor(25*320/25) would be 320. Expected values were computed with
// numpy's float32.
func TestFloatSubst(t *testing.T) {
	tests := []struct {
		h, w      int64
		size, pad int64
	}{
		{320, 320, 320, 320},
		{288, 416, 320, 320},
		{25, 25, 319, 320},
		{47, 48, 319, 320},
		{333, 1000, 213, 224},
		{1000, 333, 640, 640},
		{1, 2000, 0, 0},
	}
	for _, tt := range tests {
		at := func(name string) (Dim, bool) {
			switch name {
			case "height":
				return Int(tt.h), true
			case "width":
				return Int(tt.w), true
			}
			return Dim{}, false
		}
		size := detSize(height, width)
		if v, ok := size.Subst(at).Value(); !ok || v != tt.size {
			t.Errorf("%dx%d: size %v, want %d", tt.h, tt.w, size.Subst(at), tt.size)
		}
		if v, ok := detSize(Int(tt.h), Int(tt.w)).Value(); !ok || v != tt.size {
			t.Errorf("%dx%d: static size %v, want %d", tt.h, tt.w, detSize(Int(tt.h), Int(tt.w)), tt.size)
		}
		pad := padTo32(size)
		if v, ok := pad.Subst(at).Value(); !ok || v != tt.pad {
			t.Errorf("%dx%d: padded %v, want %d", tt.h, tt.w, pad.Subst(at), tt.pad)
		}
	}
}

// TestFloatParse: the canonical text of float expressions reads back as the
// same dim; text that is not canonical stays one opaque symbol.
func TestFloatParse(t *testing.T) {
	for _, d := range []Dim{
		detSize(height, width),
		padTo32(detSize(height, width)),
		Sub(padTo32(height), height),
		FloatToInt(IntToFloat(height, F32)),
		FloatToInt(FloatFloor(FloatBinary("*", IntToFloat(height, F32), FloatConst(0.1, F32)))),
		FloatToInt(FloatFloor(FloatSqrt(IntToFloat(height, F64)))),
		Mul(FloorDiv(Sub(padTo32(height), Int(1)), Int(2)), Int(3)),
	} {
		s := d.String()
		p := Parse(s)
		if !Equal(p, d) || p.String() != s {
			t.Errorf("Parse(%q) = %v", s, p)
		}
		if !NewReader([]string{"height", "width"}, map[string]bool{"height": true, "width": true}).Ours(s) {
			t.Errorf("%q is not read as ours", s)
		}
	}
	for _, in := range []string{
		"fmul32(f32(height), 3)",        // not integral: no dim
		"fmul32(f32(height), 16777217)", // a constant float32 cannot hold
		"floor(fmul32(3, f32(height)))x",
		"fadd32(f32(height), f64(width))",
		"fdiv32(1, 3)",
	} {
		if name, ok := Parse(in).IsSymbol(); !ok || name != in {
			t.Errorf("Parse(%q) = %v, want the opaque symbol", in, Parse(in))
		}
	}
}

// TestLowerBound: conv-like sizes of non-negative dims are non-negative, also
// in products that expand below zero termwise.
func TestLowerBound(t *testing.T) {
	conv := func(x Dim) Dim { return Add(FloorDiv(Sub(x, Int(1)), Int(2)), Int(1)) }
	g := conv(conv(height))
	tests := []struct {
		name string
		d    Dim
		want bool
	}{
		{"symbol", height, true},
		{"minus one", Sub(height, Int(1)), false},
		{"conv size", conv(height), true},
		{"conv of conv", g, true},
		{"product of conv sizes", Mul(conv(height), conv(width)), true},
		{"sum of products", Add(Mul(g, conv(width)), Mul(conv(height), conv(width))), true},
		{"difference", Sub(conv(height), conv(width)), false},
		{"negative product", Neg(Mul(conv(height), conv(width))), false},
		{"floor of negative", FloorDiv(Sub(height, Int(5)), Int(2)), false},
		{"mod", Mod(Sub(height, Int(5)), Int(3)), true},
		{"float integer", padTo32(height), true},
	}
	for _, tt := range tests {
		if got := tt.d.NonNegative(); got != tt.want {
			t.Errorf("%s: NonNegative(%v) = %v, want %v", tt.name, tt.d, got, tt.want)
		}
	}
	// Min(n, n+m) of dims is n.
	a := Mul(conv(height), conv(width))
	if got := Min(a, Add(a, Mul(conv(height), height))); !Equal(got, a) {
		t.Errorf("Min(a, a+b) = %v, want %v", got, a)
	}
	if got := Max(Add(a, height), a); !Equal(got, Add(a, height)) {
		t.Errorf("Max(a+b, a) = %v", got)
	}
}
