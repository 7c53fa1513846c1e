package opsettest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/quantprep/quantprep/pipeline/opset"
)

// python is the interpreter that has onnx: QUANTPREP_PYTHON, else Debian's
// /usr/bin/python3, the one that sees python3-onnx.
func python() string {
	if p := os.Getenv("QUANTPREP_PYTHON"); p != "" {
		return p
	}
	return "/usr/bin/python3"
}

// TestSchemasFresh runs testdata/onnx_schemas.py and checks that the committed
// testdata/onnx_schemas.tsv is its output. It skips without python3-onnx,
// unless QUANTPREP_REQUIRE_ORACLES=1.
func TestSchemasFresh(t *testing.T) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(python(), "onnx_schemas.py")
	cmd.Dir = "testdata"
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := fmt.Sprintf("oracle absent: %s cannot run onnx_schemas.py (install Debian's python3-onnx): %v: %s",
			python(), err, strings.TrimSpace(stderr.String()))
		if os.Getenv("QUANTPREP_REQUIRE_ORACLES") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	committed, err := os.ReadFile("testdata/onnx_schemas.tsv")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(stdout.Bytes(), committed) {
		t.Errorf("testdata/onnx_schemas.tsv is not what onnx_schemas.py prints with this onnx; rerun it (cd testdata && python3 onnx_schemas.py > onnx_schemas.tsv)")
	}
}

// TestSchemas checks that the two files read, do not overlap, and that the
// later one holds only versions after ONNX 1.12's.
func TestSchemas(t *testing.T) {
	s, err := Schemas()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		key  opset.Key
		want []int64
	}{
		{opset.Key{Name: "Squeeze"}, []int64{1, 11, 13, 21, 23, 24, 25}},
		{opset.Key{Domain: "ai.onnx.ml", Name: "TreeEnsemble"}, []int64{5}},
	} {
		if got := fmt.Sprint(s[tt.key]); got != fmt.Sprint(tt.want) {
			t.Errorf("%s: versions %s, want %v", tt.key, got, tt.want)
		}
	}
}

func TestCheck(t *testing.T) {
	type F = func() int
	one := func() int { return 1 }
	tests := []struct {
		name      string
		rows      []opset.Row[F]
		fromFirst bool
		want      []string
	}{
		{"every version", append([]opset.Row[F]{{Name: "Squeeze", Since: 1, Rule: one}, {Name: "Squeeze", Since: 13, Rule: one}},
			opset.Same[F]("", "Squeeze", "types", 11, 21, 23, 24, 25)...), true, nil},
		{"a version missing", []opset.Row[F]{{Name: "Squeeze", Since: 1, Rule: one}, {Name: "Squeeze", Since: 13, Rule: one}},
			false, []string{"Squeeze: ONNX changed it at version 11;", "version 21;", "version 23;", "version 24;", "version 25;"}},
		{"a row where nothing changed", []opset.Row[F]{{Name: "Shrink", Since: 9, Rule: one}, {Name: "Shrink", Since: 10, Rule: one}},
			false, []string{"Shrink: a row since 10, where ONNX did not change it"}},
		{"a later start", []opset.Row[F]{{Name: "Shrink", Since: 9, Rule: one}}, false, nil},
		{"a later start, fromFirst", append([]opset.Row[F]{{Name: "Dropout", Since: 13, Rule: one}}, opset.Same[F]("", "Dropout", "types", 22)...), true,
			[]string{"Dropout: the first row is since 13, ONNX's first version is 1"}},
		{"a misspelt operator", []opset.Row[F]{{Name: "Squeze", Since: 1, Rule: one}}, false, []string{"Squeze: not an operator"}},
		{"another domain", []opset.Row[F]{{Domain: "com.microsoft", Name: "FusedMatMul", Since: 1, Rule: one}}, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Check(opset.MustNew(tt.rows), tt.fromFirst)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %q, want %d lines like %q", got, len(tt.want), tt.want)
			}
			for i := range got {
				if !strings.Contains(got[i], tt.want[i]) {
					t.Errorf("line %d: %q, want %q in it", i, got[i], tt.want[i])
				}
			}
		})
	}
}
