package model

// The default operator domain has two spellings: "" and "ai.onnx". Every
// comparison of a node's, an opset import's or a function's domain goes
// through these two helpers, so that neither spelling is ever missed.

// IsDefaultDomain reports whether d names the default ONNX operator domain.
func IsDefaultDomain(d string) bool { return d == "" || d == "ai.onnx" }

// NormDomain returns d, with the default domain spelled "".
func NormDomain(d string) string {
	if IsDefaultDomain(d) {
		return ""
	}
	return d
}
