// Package onnxtext parses and prints ONNX models in ONNX's textual syntax
// (the language of onnx.parser and onnx.printer, docs/Syntax.md in the ONNX
// repository), so that tests can state models and expected graphs as small
// readable text files instead of binary fixtures.
//
// A model reads:
//
//	<ir_version: 8, opset_import: ["" : 17, "com.microsoft" : 1]>
//	agraph (float[N, 3] x, int64[2] s) => (float[N, 3] y)
//	  <float[3] w = {1, 2, 3}, float[N, 3] t>
//	{
//	  t = Relu (x)
//	  [add_1] y = Add <note = "x"> (t, w)
//	}
//	<domain: "local", opset_import: ["" : 17]>
//	Scale <alpha> (x) => (y) { a = Constant <value_float = @alpha> () y = Mul (x, a) }
//
// Types: `float` is a scalar (empty shape), `float[]` a tensor of unknown
// rank (no shape), `float[N, ?, 3]` has a symbolic, an unknown and a fixed
// dimension; seq(T), map(K, T), optional(T), sparse_tensor(T) and
// opaque(domain, name) nest. Names that are not identifiers are quoted:
// "input.1". Attribute values are integers, floats (with a '.' or exponent,
// or inf, -inf, nan), strings, tensors (`float[2] {1, 2}`), types
// (`float[2, N]`), graphs, @references and [lists] of those; `name: ints = []`
// gives an empty list its type. Strings accept the escapes \\ \" \n \t \r
// and \xHH. `#` starts a comment.
//
// Extensions over ONNX's parser, all read back by this package only: float
// literals inf, -inf and nan; float16 and bfloat16 tensor literals written as
// decimal numbers; string escapes; a leading empty output (`, y = Op (x)`).
// The printer's elision marker `...` is print-only: tensors larger than
// Printer.MaxElements print as `{...}`, and ParseModel rejects `...` with a
// line:column error saying the values were elided.
package onnxtext
