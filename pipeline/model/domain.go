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

// OpsetVersion returns the version at which a node of domain is read, given
// the version the model (or function) imports for it, or 0 if it imports none.
// A domain that is not imported is read at the newest version we know of it:
// ONNX Runtime accepts such a model and reads it so (on load it adds an import
// of the latest opset of every domain it knows to the model). Shape inference,
// constant folding and the optimizer's rules all go through this, so that
// they read a node alike.
func OpsetVersion(domain string, imported int64) int64 {
	if imported > 0 {
		return imported
	}
	switch NormDomain(domain) {
	case "":
		return MaxOnnxOpset
	case "ai.onnx.ml":
		return MaxMLOpset
	}
	// com.microsoft, ai.onnx.preview.training and any other domain we know
	// have one version.
	return 1
}
