package infer

import "github.com/quantprep/quantprep/pipeline/opset"

// unsupported lists operators of ONNX's schemas (pipeline/opset/opsettest)
// that have no registry entry, each with the reason. Their nodes get a
// warning, and with guess_output_rank the rank of input 0. The coverage test
// checks that every schema is either registered or listed here. Every
// operator up to ONNX 1.22 is registered now, so it is empty.
var unsupported = map[opset.Key]string{}
