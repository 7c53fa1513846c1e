// Package e2e holds end-to-end tests that judge the pipeline's output with the
// reference tools ("oracles"): ONNX Runtime's CPU library through
// github.com/yalue/onnxruntime_go (cgo), and Debian python3-onnx's checker.
// They are behind the build tag ortoracle, so that the product and its ordinary
// tests stay cgo-free:
//
//	CGO_ENABLED=1 go test -tags ortoracle ./e2e/...
//
// ONNXRUNTIME_LIB names libonnxruntime.so (default: the one npm's
// onnxruntime-node package ships, under ~/.cache/onnx-oracles); QUANTPREP_PYTHON
// names the interpreter with onnx (default /usr/bin/python3). A missing oracle
// skips the tests with a message, or fails them when QUANTPREP_REQUIRE_ORACLES=1.
package e2e
