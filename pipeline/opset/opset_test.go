package opset

import (
	"strconv"
	"strings"
	"testing"

	"github.com/quantprep/quantprep/pipeline/model"
)

type rule = func() string

func r(s string) rule { return func() string { return s } }

func TestLookup(t *testing.T) {
	reg := MustNew([]Row[rule]{
		{Name: "Squeeze", Since: 1, Rule: r("attr")},
		{Name: "Squeeze", Since: 13, Rule: r("input")},
		{Domain: "ai.onnx", Name: "Relu", Since: 6, Rule: r("relu")},
		{Domain: "com.microsoft", Name: "FusedMatMul", Since: 1, Rule: r("ms")},
	}, Same[rule]("", "Squeeze", "types only", 11, 21))
	tests := []struct {
		domain, name string
		version      int64
		want         string // "" for none
	}{
		{"", "Squeeze", 1, "attr"},
		{"", "Squeeze", 11, "attr"}, // a marker defers to the rule before it
		{"", "Squeeze", 12, "attr"},
		{"", "Squeeze", 13, "input"},
		{"ai.onnx", "Squeeze", 22, "input"}, // both spellings of the default domain
		{"", "Relu", 5, ""},                 // before the first row
		{"", "Relu", 6, "relu"},
		{"", "Squeeze", 0, "input"}, // not imported: the newest opset, as ORT reads it
		{"com.microsoft", "FusedMatMul", 0, "ms"},
		{"", "NoSuchOp", 17, ""},
	}
	for _, tt := range tests {
		row, ok := reg.Lookup(tt.domain, tt.name, tt.version)
		got := ""
		if ok {
			got = row.Rule()
		}
		if got != tt.want {
			t.Errorf("Lookup(%q, %q, %d) = %q, want %q", tt.domain, tt.name, tt.version, got, tt.want)
		}
	}
	if got := reg.Ops(); len(got) != 3 || got[0].String() != "Relu" || got[2].String() != "com.microsoft.FusedMatMul" {
		t.Errorf("Ops() = %v", got)
	}
	if rows := reg.Rows(Key{Name: "Squeeze"}); len(rows) != 4 || rows[1].Since != 11 || rows[1].Unchanged == "" {
		t.Errorf("Rows(Squeeze) = %+v, want 4 rows oldest first with the marker second", rows)
	}
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name string
		rows []Row[rule]
		want string
	}{
		{"duplicate across spellings", []Row[rule]{{Name: "Relu", Since: 6, Rule: r("a")}, {Domain: "ai.onnx", Name: "Relu", Since: 6, Rule: r("b")}}, "registered twice"},
		{"duplicate marker", append([]Row[rule]{{Name: "Relu", Since: 6, Rule: r("a")}}, Same[rule]("", "Relu", "types", 13, 13)...), "registered twice"},
		{"marker first", append([]Row[rule]{{Name: "Relu", Since: 13, Rule: r("a")}}, Same[rule]("", "Relu", "types", 6)...), "no rule before it"},
		{"rule row without a rule", []Row[rule]{{Name: "Relu", Since: 6}}, "without a rule"},
		{"marker with a rule", []Row[rule]{{Name: "Relu", Since: 6, Rule: r("a")}, {Name: "Relu", Since: 13, Rule: r("b"), Unchanged: "types"}}, "marker with a rule"},
		{"version 0", []Row[rule]{{Name: "Relu", Rule: r("a")}}, "below 1"},
	}
	for _, tt := range tests {
		_, err := New(tt.rows)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: New error %v, want one saying %q", tt.name, err, tt.want)
		}
	}
}

// TestNotImported pins the rule for a domain a model does not import: the
// newest version we know, the version ONNX Runtime fills in.
func TestNotImported(t *testing.T) {
	for _, tt := range []struct {
		domain   string
		imported int64
		want     int64
	}{
		{"", 13, 13},
		{"", 0, model.MaxOnnxOpset},
		{"ai.onnx", 0, model.MaxOnnxOpset},
		{"ai.onnx.ml", 0, model.MaxMLOpset},
		{"com.microsoft", 0, 1},
	} {
		if got := model.OpsetVersion(tt.domain, tt.imported); got != tt.want {
			t.Errorf("OpsetVersion(%q, %d) = %d, want %d", tt.domain, tt.imported, got, tt.want)
		}
	}
}

// TestForms checks that each row of Forms binds its own version, not the
// last one of the list, and that a node between two rows gets the older form.
func TestForms(t *testing.T) {
	bind := func(form int64) rule { return r(strconv.FormatInt(form, 10)) }
	reg := MustNew(Forms("", "Split", bind, 1, 13, 18))
	for _, tt := range []struct {
		version int64
		want    string
	}{{1, "1"}, {12, "1"}, {13, "13"}, {17, "13"}, {18, "18"}, {25, "18"}} {
		got := ""
		if row, ok := reg.Lookup("", "Split", tt.version); ok {
			got = row.Rule()
		}
		if got != tt.want {
			t.Errorf("Split at %d: form %q, want %q", tt.version, got, tt.want)
		}
	}
}
