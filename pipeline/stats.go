package pipeline

import (
	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/model"
)

// ShapeStats counts the main graph's node outputs and those that have an element
// type and a full shape (every dim a value or a symbol). Graph outputs count with
// their own declared type when value_info does not repeat it.
func ShapeStats(m *model.Model) (outputs, full int) {
	g := m.Graph()
	known := map[string]*onnxpb.TypeProto{}
	for _, vi := range g.GetValueInfo() {
		known[vi.GetName()] = vi.GetType()
	}
	for _, vi := range g.GetOutput() {
		if _, ok := known[vi.GetName()]; !ok {
			known[vi.GetName()] = vi.GetType()
		}
	}
	for _, n := range g.GetNode() {
		for _, o := range n.GetOutput() {
			if o == "" {
				continue
			}
			outputs++
			if FullShape(known[o]) {
				full++
			}
		}
	}
	return outputs, full
}

// FullShape reports whether t is a tensor type with an element type and a shape
// whose every dim is a value or a symbol.
func FullShape(t *onnxpb.TypeProto) bool {
	tt := t.GetTensorType()
	if tt == nil || tt.GetElemType() == 0 || tt.GetShape() == nil {
		return false
	}
	for _, d := range tt.GetShape().GetDim() {
		if _, ok := d.GetValue().(*onnxpb.TensorShapeProto_Dimension_DimValue); ok {
			continue
		}
		if d.GetDimParam() == "" {
			return false
		}
	}
	return true
}
