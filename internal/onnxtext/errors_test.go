package onnxtext

import (
	"errors"
	"strings"
	"testing"
)

// TestParseErrors checks that bad input fails with the position and what
// the parser expected.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"empty input", "", "1:1: expected graph name (an identifier or quoted name), found end of input"},
		{"missing arrow", "g (float x) (float y) {}", `1:13: expected "=>" between graph inputs and outputs, found "("`},
		{"unknown header key", "<ir_versio: 8> g () => () {}", `1:2: unknown model header key "ir_versio"`},
		{"header value type", `<ir_version: "8"> g () => () {}`, `1:14: expected ir_version (an integer), found string "8"`},
		{"unclosed node list", "g () => () {\n  y = Relu (x)\n", "3:1: expected a node or \"}\" closing the node list, found end of input"},
		{"missing op", "g () => () {\n  y = (x)\n}", `2:7: expected operator name (an identifier), found "("`},
		{"unknown type", "g (floot[2] x) => () {}", `1:4: unknown type "floot"`},
		{"unknown type before name", "g (floot x) => () {}", `1:4: unknown type "floot"`},
		{"bad dim", "g (float[2.5] x) => () {}", "1:10: expected a dimension (integer, symbolic name or ?), found number 2.5"},
		{"symbolic initializer", "g () => () <float[N] w = {1}> {}", `1:22: tensor "w": every dimension must be a number`},
		{"unknown-rank initializer", "g () => () <float[] w = {1}> {}", `tensor "w" needs a shape`},
		{"int8 range", "g () => () <int8[1] w = {300}> {}", "1:26: value 300 out of range for int8"},
		{"string in float tensor", `g () => () <float[1] w = {"a"}> {}`, `1:27: expected float value (a number), found string "a"`},
		{"elided initializer", "g () => () <float[100] w = {...}> {}", `1:29: tensor "w": values were elided by the printer ("..." is print-only)`},
		{"elided attribute tensor", "g () => () { y = C <value = float[100] {...}> () }", `tensor "": values were elided by the printer`},
		{"elided attribute", "g () => () { y = C <value = ...> () }", `1:29: attribute "value": value was elided by the printer`},
		{"empty list without type", "g () => () { y = C <a = []> () }", `1:25: attribute "a": an empty list needs a type`},
		{"mixed list", `g () => () { y = C <a = [1, "x"]> () }`, `attribute "a": list mixes int and string values`},
		{"declared type mismatch", `g () => () { y = C <a: int = "x"> () }`, `1:30: attribute "a" is declared int but its value is a string`},
		{"unknown attribute type", "g () => () { y = C <a: integer = 1> () }", `1:24: attribute "a": unknown attribute type "integer"`},
		{"duplicate attribute", "g () => () { y = C <a = 1, a = 2> () }", `1:28: duplicate attribute "a"`},
		{"unterminated string", `g () => () { y = C <s = "abc> () }`, "1:25: unterminated string literal"},
		{"bad escape", `g () => () { y = C <s = "\q"> () }`, `1:25: unknown escape \q`},
		{"bad character", "g () => () { y = C (x) ; }", `1:24: unexpected character ';'`},
		{"trailing tokens after graph", "g () => () {} extra", `1:20: expected "(" opening the function inputs, found end of input`},
		{"int overflow", "<ir_version: 99999999999999999999> g () => () {}", "1:14: ir_version: integer 99999999999999999999 out of range"},
		{"function without arrow", "g () => () {}\nf (x) (y) {}", `2:7: expected "=>" between function inputs and outputs`},
		{"reference in list", "g () => () { y = C <a = [@x]> () }", "1:25: attribute \"a\": a reference @x cannot be a list element"},
		{"uint32 range", "g () => () <uint32[1] w = {4294967296}> {}", "value 4294967296 out of range for uint32"},
		{"map key", "g (map(seq(int64), float) m) => () {}", `1:8: map key type must be a tensor element type, found "seq"`},
		{"deep nesting", "g (" + strings.Repeat("seq(", 300) + "float" + strings.Repeat(")", 300) + " x) => () {}", "nesting deeper than 200 levels"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseModel(tc.src)
			if err == nil {
				t.Fatalf("ParseModel accepted %q", tc.src)
			}
			var pe *Error
			if !errors.As(err, &pe) {
				t.Errorf("error %v is not an *Error", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error\n  %v\nwant it to contain\n  %s", err, tc.want)
			}
		})
	}
}

func TestParseGraphRejectsTrailingInput(t *testing.T) {
	_, err := ParseGraph("g () => () {} h () => () {}")
	if err == nil || !strings.Contains(err.Error(), `1:15: expected end of input after the graph, found identifier "h"`) {
		t.Errorf("got %v", err)
	}
}
