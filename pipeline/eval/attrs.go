package eval

import onnxpb "github.com/quantprep/quantprep/api/onnx"

// Attrs is a node's attribute list with typed getters.
type Attrs []*onnxpb.AttributeProto

func (a Attrs) find(name string) *onnxpb.AttributeProto {
	for _, at := range a {
		if at.GetName() == name {
			return at
		}
	}
	return nil
}

// Has reports whether the attribute is present.
func (a Attrs) Has(name string) bool { return a.find(name) != nil }

// Int returns an integer attribute, or def if it is absent.
func (a Attrs) Int(name string, def int64) int64 {
	if at := a.find(name); at != nil {
		return at.GetI()
	}
	return def
}

// Float returns a float attribute, or def if it is absent.
func (a Attrs) Float(name string, def float32) float32 {
	if at := a.find(name); at != nil {
		return at.GetF()
	}
	return def
}

// Ints returns an ints attribute and whether it is present.
func (a Attrs) Ints(name string) ([]int64, bool) {
	if at := a.find(name); at != nil {
		return at.GetInts(), true
	}
	return nil, false
}

// String returns a string attribute, or def if it is absent.
func (a Attrs) String(name, def string) string {
	if at := a.find(name); at != nil {
		return string(at.GetS())
	}
	return def
}

// Tensor returns a tensor attribute, or nil.
func (a Attrs) Tensor(name string) *onnxpb.TensorProto {
	if at := a.find(name); at != nil {
		return at.GetT()
	}
	return nil
}
