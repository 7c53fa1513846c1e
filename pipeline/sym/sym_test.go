package sym

import "testing"

var (
	batch = Symbol("batch")
	seq   = Symbol("sequence")
)

func TestAlgebra(t *testing.T) {
	tests := []struct {
		name string
		got  Dim
		want string
	}{
		{"int", Int(7), "7"},
		{"symbol", seq, "sequence"},
		{"scaled right", Mul(seq, Int(2)), "sequence*2"},
		{"scaled left", Mul(Int(2), seq), "sequence*2"},
		{"product order", Mul(seq, batch), "batch*sequence"},
		{"add cancel", Sub(Add(seq, Int(1)), Int(1)), "sequence"},
		{"sub self", Sub(seq, seq), "0"},
		{"sum", Add(Int(3), Add(seq, seq)), "sequence*2+3"},
		{"negative first", Sub(Int(5), seq), "-sequence+5"},
		{"minus const", Sub(seq, Int(1)), "sequence-1"},
		{"distribute", Mul(Add(seq, Int(1)), Int(3)), "sequence*3+3"},
		{"square", Mul(seq, seq), "sequence*sequence"},
		{"binomial", Mul(Add(seq, Int(1)), Add(batch, Int(2))), "batch+batch*sequence+sequence*2+2"},
		{"exact div", FloorDiv(Mul(seq, Int(4)), Int(2)), "sequence*2"},
		{"floor div", FloorDiv(seq, Int(2)), "floor(sequence/2)"},
		{"div product", FloorDiv(Mul(batch, seq), batch), "sequence"},
		{"div self", FloorDiv(seq, seq), "1"},
		{"div multiple of sum", FloorDiv(Mul(Add(Mul(batch, seq), Add(seq, Int(1))), Int(9)), Add(Mul(batch, seq), Add(seq, Int(1)))), "9"},
		{"div not a multiple", FloorDiv(Add(Mul(seq, Int(9)), Int(8)), Add(seq, Int(1))), "floor((sequence*9+8)/(sequence+1))"},
		{"mod multiple of sum", Mod(Mul(Add(batch, seq), Int(3)), Add(batch, seq)), "0"},
		{"int floor div neg", FloorDiv(Int(-7), Int(2)), "-4"},
		{"ceil div", CeilDiv(seq, Int(2)), "floor((sequence+1)/2)"},
		{"ceil exact", CeilDiv(Mul(seq, Int(2)), Int(2)), "sequence"},
		{"mod int", Mod(Int(-7), Int(3)), "2"},
		{"mod exact", Mod(Mul(seq, Int(4)), Int(2)), "0"},
		{"mod sym", Mod(seq, Int(2)), "Mod(sequence, 2)"},
		{"max known diff", Max(Add(seq, Int(1)), seq), "sequence+1"},
		{"min known diff", Min(Add(seq, Int(1)), seq), "sequence"},
		{"max sorted", Max(seq, batch), "Max(batch, sequence)"},
		{"max commutes", Max(batch, seq), "Max(batch, sequence)"},
		{"max absorbs min", Max(seq, Min(Int(64), seq)), "sequence"},
		{"min absorbs max", Min(Max(batch, seq), seq), "sequence"},
		{"max zero", Max(Int(0), seq), "sequence"},
		{"min zero", Min(seq, Int(0)), "0"},
		{"max zero expr", Max(Int(0), Sub(seq, Int(1))), "Max(0, sequence-1)"},
		{"unknown add", Add(Unknown(), Int(1)), "?"},
		{"zero times unknown", Mul(Int(0), Unknown()), "0"},
		{"div zero", FloorDiv(seq, Int(0)), "?"},
		// Nested floor divisions by constants fold into one.
		{"floor of floor", FloorDiv(FloorDiv(seq, Int(2)), Int(3)), "floor(sequence/6)"},
		{"strided convs", FloorDiv(Add(FloorDiv(Sub(seq, Int(1)), Int(2)), Int(1-1)), Int(2)), "floor((sequence-1)/4)"},
		{"floor plus k", FloorDiv(Add(FloorDiv(seq, Int(2)), Int(3)), Int(2)), "floor((sequence+6)/4)"},
		{"ceil of ceil", CeilDiv(CeilDiv(seq, Int(2)), Int(2)), "floor((sequence+3)/4)"},
		{"scaled floor stays", FloorDiv(Mul(FloorDiv(seq, Int(2)), Int(3)), Int(2)), "floor((floor(sequence/2)*3)/2)"},
		{"symbolic divisor stays", FloorDiv(FloorDiv(seq, batch), Int(2)), "floor((floor(sequence/batch))/2)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if s := tt.got.String(); s != tt.want {
				t.Errorf("got %s, want %s", s, tt.want)
			}
		})
	}
}

func TestParseRoundTrip(t *testing.T) {
	tests := []struct{ in, want string }{
		{"batch", "batch"},
		{"7", "7"},
		{"sequence*2", "sequence*2"},
		{"floor(sequence/2)", "floor(sequence/2)"},
		{"floor((sequence+1)/2)", "floor((sequence+1)/2)"},
		{"Mod(sequence, 2)", "Mod(sequence, 2)"},
		{"Max(batch, sequence)", "Max(batch, sequence)"},
		{"-sequence+5", "-sequence+5"},
		{"batch+batch*sequence+sequence*2+2", "batch+batch*sequence+sequence*2+2"},
		{"", "?"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			d := Parse(tt.in)
			if s := d.String(); s != tt.want {
				t.Errorf("Parse(%q) = %s, want %s", tt.in, s, tt.want)
			}
			if _, one := d.IsSymbol(); !one && !d.IsKnown() && !d.IsUnknown() && len(d.Symbols()) == 0 {
				t.Errorf("Parse(%q) has no symbols", tt.in)
			}
		})
	}
}

// TestParseOpaque: text that is not our canonical form is one symbol named by
// the whole text, never arithmetic, whatever it looks like.
func TestParseOpaque(t *testing.T) {
	for _, in := range []string{
		"Unsqueeze/decoder/rnn/Unsqueeze_output_0_dim_1",
		"Squeeze/roi_heads/box_roi_pool/Squeeze_1_output_0_dim_0",
		"p2o.DynamicDimension.0", "unk__314", "input:0", "a/b-c", "batch size",
		"2*sequence", "sequence * 2", "sequence//2", "ceil(sequence/2)", "max(1, 3)",
		"(a+1)-1", "sequence**2", "Max(sequence, batch)", "sequence+-1", "3 +", "a b",
	} {
		d := Parse(in)
		if name, ok := d.IsSymbol(); !ok || name != in {
			t.Errorf("Parse(%q) = %v, want the opaque symbol", in, d)
		}
	}
}

// TestReader: a model's opaque names are atoms inside our expressions, and
// with known names an identifier that is no symbol of the model keeps text
// that looks canonical opaque.
func TestReader(t *testing.T) {
	r := NewReader([]string{"batch size", "a/b-c", "seq"}, map[string]bool{"seq": true, "n": true})
	tests := []struct {
		in     string
		want   Dim
		opaque bool
	}{
		{"batch size", Symbol("batch size"), true},
		{"batch size*2", Mul(Symbol("batch size"), Int(2)), false},
		{"a/b-c+1", Add(Symbol("a/b-c"), Int(1)), false},
		{"floor(a/b-c/2)", FloorDiv(Symbol("a/b-c"), Int(2)), false},
		{"seq-n", Sub(Symbol("seq"), Symbol("n")), false},
		{"seq-len", Symbol("seq-len"), true}, // "len" is no symbol of the model
		{"a/b", Symbol("a/b"), true},
	}
	for _, tt := range tests {
		d := r.Parse(tt.in)
		if !Equal(d, tt.want) {
			t.Errorf("Parse(%q) = %v, want %v", tt.in, d, tt.want)
		}
		if r.Ours(tt.in) == tt.opaque {
			t.Errorf("Ours(%q) = %v", tt.in, !tt.opaque)
		}
	}
}

func TestEqualAndMerge(t *testing.T) {
	if !Equal(Mul(seq, Int(2)), Parse("sequence*2")) {
		t.Error("sequence*2 does not read back")
	}
	if Equal(Unknown(), Unknown()) {
		t.Error("unknown dims must not be equal")
	}
	tests := []struct {
		a, b   Dim
		want   string
		wantOK bool
	}{
		{Unknown(), seq, "sequence", true},
		{seq, Unknown(), "sequence", true},
		{seq, Int(4), "4", true},
		{Int(4), seq, "4", true},
		{Int(4), Int(4), "4", true},
		{Int(4), Int(5), "4", false},
		{seq, batch, "sequence", false},
	}
	for _, tt := range tests {
		got, ok := Merge(tt.a, tt.b)
		if got.String() != tt.want || ok != tt.wantOK {
			t.Errorf("Merge(%v, %v) = %v, %v; want %s, %v", tt.a, tt.b, got, ok, tt.want, tt.wantOK)
		}
	}
	if n, ok := seq.IsSymbol(); !ok || n != "sequence" {
		t.Error("IsSymbol")
	}
	if _, ok := Mul(seq, Int(2)).IsSymbol(); ok {
		t.Error("sequence*2 is not a single symbol")
	}
	if got := Mul(Max(seq, batch), Int(2)).Symbols(); len(got) != 2 || got[0] != "batch" {
		t.Errorf("Symbols = %v", got)
	}
}

// TestNestedFloorValues checks the folding of nested floor divisions against
// integer arithmetic, negative values included: floor((floor((x+j)/c)+k)/b)
// for every small j, c, k, b and x.
func TestNestedFloorValues(t *testing.T) {
	for c := int64(1); c <= 5; c++ {
		for b := int64(1); b <= 5; b++ {
			for j := int64(-3); j <= 3; j++ {
				for k := int64(-3); k <= 3; k++ {
					d := FloorDiv(Add(FloorDiv(Add(seq, Int(j)), Int(c)), Int(k)), Int(b))
					for x := int64(-30); x <= 30; x++ {
						got := d.Subst(func(string) (Dim, bool) { return Int(x), true })
						want := floorDiv(floorDiv(x+j, c)+k, b)
						if v, ok := got.Value(); !ok || v != want {
							t.Fatalf("%s at sequence=%d: got %s, want %d", d, x, got, want)
						}
					}
				}
			}
		}
	}
}

func TestSubst(t *testing.T) {
	f := func(name string) (Dim, bool) {
		switch name {
		case "a":
			return seq, true
		case "n":
			return Int(4), true
		}
		return Dim{}, false
	}
	tests := []struct{ in, want string }{
		{"a", "sequence"},
		{"a*2+batch", "batch+sequence*2"},
		{"floor(a/n)", "floor(sequence/4)"},
		{"Max(a, sequence)", "sequence"},
		{"n*n+1", "17"},
		{"batch", "batch"},
	}
	for _, tt := range tests {
		if got := Parse(tt.in).Subst(f).String(); got != tt.want {
			t.Errorf("Subst(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
