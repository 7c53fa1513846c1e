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
		{"2*sequence", "sequence*2"},
		{"sequence * 2", "sequence*2"},
		{"sequence*2", "sequence*2"},
		{"floor(sequence/2)", "floor(sequence/2)"},
		{"sequence//2", "floor(sequence/2)"},
		{"ceil(sequence/2)", "floor((sequence+1)/2)"},
		{"floor((sequence+1)/2)", "floor((sequence+1)/2)"},
		{"Mod(sequence, 2)", "Mod(sequence, 2)"},
		{"sequence % 2", "Mod(sequence, 2)"},
		{"Max(sequence, batch)", "Max(batch, sequence)"},
		{"max(1, 3)", "3"},
		{"(a+1)-1", "a"},
		{"-sequence+5", "-sequence+5"},
		{"sequence**2", "sequence*sequence"},
		{"batch*sequence+batch+sequence*2+2", "batch+batch*sequence+sequence*2+2"},
		{"p2o.DynamicDimension.0", "p2o.DynamicDimension.0"},
		{"unk__3", "unk__3"},
		{"a b", "a b"}, // not an expression: one symbol
		{"3 +", "3 +"}, // not an expression: one symbol
		{"", "?"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if s := Parse(tt.in).String(); s != tt.want {
				t.Errorf("Parse(%q) = %s, want %s", tt.in, s, tt.want)
			}
		})
	}
}

func TestEqualAndMerge(t *testing.T) {
	if !Equal(Mul(seq, Int(2)), Parse("2*sequence")) {
		t.Error("sequence*2 != 2*sequence")
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
