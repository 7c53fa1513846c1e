package model

import onnxpb "github.com/quantprep/quantprep/api/onnx"

// Attrs is a node's attribute list with typed getters: the one way shape
// rules (infer), kernels (eval) and passes (optimize) read attributes. A
// getter reads the field of its type whatever the attribute's declared type,
// as ONNX Runtime's does not check it either; an absent attribute gives the
// default.
type Attrs []*onnxpb.AttributeProto

// AttrsOf returns n's attributes.
func AttrsOf(n *onnxpb.NodeProto) Attrs { return n.GetAttribute() }

// Get returns the attribute named name, or nil.
func (a Attrs) Get(name string) *onnxpb.AttributeProto {
	for _, at := range a {
		if at.GetName() == name {
			return at
		}
	}
	return nil
}

// Has reports whether the attribute is present.
func (a Attrs) Has(name string) bool { return a.Get(name) != nil }

// Int returns an integer attribute, or def if it is absent.
func (a Attrs) Int(name string, def int64) int64 {
	if at := a.Get(name); at != nil {
		return at.GetI()
	}
	return def
}

// Float returns a float attribute, or def if it is absent.
func (a Attrs) Float(name string, def float32) float32 {
	if at := a.Get(name); at != nil {
		return at.GetF()
	}
	return def
}

// String returns a string attribute, or def if it is absent.
func (a Attrs) String(name, def string) string {
	if at := a.Get(name); at != nil {
		return string(at.GetS())
	}
	return def
}

// Ints returns an ints attribute and whether it is present.
func (a Attrs) Ints(name string) ([]int64, bool) {
	if at := a.Get(name); at != nil {
		return at.GetInts(), true
	}
	return nil, false
}

// Floats returns a floats attribute and whether it is present.
func (a Attrs) Floats(name string) ([]float32, bool) {
	if at := a.Get(name); at != nil {
		return at.GetFloats(), true
	}
	return nil, false
}

// Tensor returns a tensor attribute, or nil.
func (a Attrs) Tensor(name string) *onnxpb.TensorProto { return a.Get(name).GetT() }

// Graph returns a graph attribute, or nil.
func (a Attrs) Graph(name string) *onnxpb.GraphProto { return a.Get(name).GetG() }
