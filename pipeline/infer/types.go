package infer

import (
	"strings"

	"google.golang.org/protobuf/proto"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/sym"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// Kind says what sort of value a Type describes.
type Kind int

// The kinds of values.
const (
	KindTensor Kind = iota
	KindSequence
	KindOptional
	// KindOther is a type the engine does not model (map, sparse tensor,
	// opaque); it is passed through as its proto.
	KindOther
)

// Type is what is known about one value: for a tensor its element type and,
// when Ranked, its shape; for a sequence or optional the type of its element.
type Type struct {
	Kind   Kind
	Elem   tensor.DType
	Ranked bool
	Shape  []sym.Dim
	Inner  *Type
	Other  *onnxpb.TypeProto
	// Items, when ItemsKnown, are a sequence's elements one by one (Inner
	// is then their join): sequences built from constant positions keep
	// each element's shape and their number.
	Items      []Type
	ItemsKnown bool
	// RanksVary marks an unranked element type that is unranked because
	// the elements are known to differ in rank, which contradicts any
	// declared rank.
	RanksVary bool
}

// Tensor returns a ranked tensor type.
func Tensor(elem tensor.DType, shape []sym.Dim) Type {
	return Type{Elem: elem, Ranked: true, Shape: shape}
}

// String prints t as ONNX's text syntax does: float[batch,sequence,128].
func (t Type) String() string {
	switch t.Kind {
	case KindSequence:
		return "seq(" + t.innerString() + ")"
	case KindOptional:
		return "optional(" + t.innerString() + ")"
	case KindOther:
		if m := t.Other.GetMapType(); m != nil {
			return "map(" + tensor.DType(m.GetKeyType()).String() + "," + typeFromProto(m.GetValueType()).String() + ")"
		}
		return "other"
	}
	var b strings.Builder
	if t.Elem == 0 {
		b.WriteString("?")
	} else {
		b.WriteString(t.Elem.String())
	}
	if !t.Ranked {
		return b.String()
	}
	b.WriteByte('[')
	for i, d := range t.Shape {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(d.String())
	}
	b.WriteByte(']')
	return b.String()
}

func (t Type) innerString() string {
	if t.Inner == nil {
		return "?"
	}
	return t.Inner.String()
}

// known is a score of how much t says, used to tell whether inference added
// anything: element type, rank, and each dim that is not unknown.
func (t Type) known() int {
	switch t.Kind {
	case KindSequence, KindOptional:
		if t.Inner == nil {
			return 1
		}
		return 1 + t.Inner.known()
	case KindOther:
		return 1
	}
	n := 0
	if t.Elem != 0 {
		n++
	}
	if t.Ranked {
		n++
		for _, d := range t.Shape {
			if !d.IsUnknown() {
				n++
			}
		}
	}
	return n
}

// full reports whether t is a tensor type with an element type and a shape
// whose every dim is a value or a symbol.
func (t Type) full() bool {
	if t.Kind != KindTensor || t.Elem == 0 || !t.Ranked {
		return false
	}
	for _, d := range t.Shape {
		if d.IsUnknown() {
			return false
		}
	}
	return true
}

// typeFromProto reads a TypeProto; a nil proto is an unknown tensor type.
// dim_params are read by sym.Parse: only our canonical expressions are
// expressions.
func typeFromProto(tp *onnxpb.TypeProto) Type { return readType(tp, nil) }

// readType reads a TypeProto with a model's reader of dim_params (nil:
// sym.Parse).
func readType(tp *onnxpb.TypeProto, rd *sym.Reader) Type {
	if tp == nil {
		return Type{}
	}
	switch v := tp.GetValue().(type) {
	case *onnxpb.TypeProto_TensorType:
		return tensorFromProto(v.TensorType.GetElemType(), v.TensorType.GetShape(), v.TensorType.Shape != nil, rd)
	case *onnxpb.TypeProto_SequenceType:
		t := Type{Kind: KindSequence}
		if e := v.SequenceType.GetElemType(); e != nil {
			in := readType(e, rd)
			t.Inner = &in
		}
		return t
	case *onnxpb.TypeProto_OptionalType:
		t := Type{Kind: KindOptional}
		if e := v.OptionalType.GetElemType(); e != nil {
			in := readType(e, rd)
			t.Inner = &in
		}
		return t
	case nil:
		return Type{}
	}
	return Type{Kind: KindOther, Other: tp}
}

func tensorFromProto(elem int32, sh *onnxpb.TensorShapeProto, hasShape bool, rd *sym.Reader) Type {
	parse := sym.Parse
	if rd != nil {
		parse = rd.Parse
	}
	t := Type{Elem: tensor.DType(elem), Ranked: hasShape}
	if hasShape {
		t.Shape = make([]sym.Dim, len(sh.GetDim()))
		for i, d := range sh.GetDim() {
			switch v := d.GetValue().(type) {
			case *onnxpb.TensorShapeProto_Dimension_DimValue:
				if v.DimValue >= 0 {
					t.Shape[i] = sym.Int(v.DimValue)
				} else {
					t.Shape[i] = sym.Unknown()
				}
			case *onnxpb.TensorShapeProto_Dimension_DimParam:
				d := parse(v.DimParam)
				if x, ok := d.Value(); ok && x < 0 {
					d = sym.Unknown() // a dim_param such as "-1" is no size
				}
				t.Shape[i] = d
			default:
				t.Shape[i] = sym.Unknown()
			}
		}
	}
	return t
}

// toProto writes t as a TypeProto; nil when t says nothing.
func (t Type) toProto() *onnxpb.TypeProto {
	switch t.Kind {
	case KindOther:
		return t.Other
	case KindSequence, KindOptional:
		var inner *onnxpb.TypeProto
		if t.Inner != nil {
			inner = t.Inner.toProto()
		}
		if inner == nil {
			return nil
		}
		if t.Kind == KindSequence {
			return &onnxpb.TypeProto{Value: &onnxpb.TypeProto_SequenceType{SequenceType: &onnxpb.TypeProto_Sequence{ElemType: inner}}}
		}
		return &onnxpb.TypeProto{Value: &onnxpb.TypeProto_OptionalType{OptionalType: &onnxpb.TypeProto_Optional{ElemType: inner}}}
	}
	if t.Elem == 0 {
		// A tensor type without an element type is not valid ONNX; say
		// nothing rather than write one.
		return nil
	}
	tt := &onnxpb.TypeProto_Tensor{}
	if t.Elem != 0 {
		tt.ElemType = proto.Int32(int32(t.Elem))
	}
	if t.Ranked {
		tt.Shape = &onnxpb.TensorShapeProto{Dim: make([]*onnxpb.TensorShapeProto_Dimension, len(t.Shape))}
		for i, d := range t.Shape {
			pd := &onnxpb.TensorShapeProto_Dimension{}
			if v, ok := d.Value(); ok {
				pd.Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: v}
			} else if !d.IsUnknown() {
				pd.Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: d.String()}
			}
			tt.Shape.Dim[i] = pd
		}
	}
	return &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: tt}}
}

// mergeTypes combines an existing type (from value_info or a graph output) with
// an inferred one, keeping the more specific consistent information. On a
// conflict the existing element type, rank or dim wins for that part, the
// rest is merged, and why says what differs.
func mergeTypes(old, inf Type) (t Type, why string) {
	if old.Kind != inf.Kind {
		if old.known() == 0 {
			return inf, ""
		}
		if inf.known() == 0 {
			return old, ""
		}
		return old, "kind differs"
	}
	switch old.Kind {
	case KindOther:
		return old, ""
	case KindSequence, KindOptional:
		if old.Inner == nil {
			return inf, ""
		}
		if inf.Inner == nil {
			return old, ""
		}
		in, why := mergeTypes(*old.Inner, *inf.Inner)
		old.Inner = &in
		return old, why
	}
	t = old
	if t.Elem == 0 {
		t.Elem = inf.Elem
	} else if inf.Elem != 0 && inf.Elem != t.Elem {
		why = "existing element type " + old.Elem.String() + ", inferred " + inf.Elem.String()
	}
	switch {
	case !inf.Ranked && inf.RanksVary && old.Ranked && why == "":
		why = "existing shape " + old.String() + ", inferred elements of differing ranks"
	case !inf.Ranked:
	case !old.Ranked:
		t.Ranked, t.Shape = true, inf.Shape
	case len(old.Shape) != len(inf.Shape):
		return t, "existing shape " + old.String() + ", inferred " + inf.String()
	default:
		// Dim by dim: the more specific of two consistent dims; where two
		// values conflict, the existing one, and the conflict is reported.
		sh := make([]sym.Dim, len(old.Shape))
		for i := range old.Shape {
			d, ok := sym.Merge(old.Shape[i], inf.Shape[i])
			if !ok && old.Shape[i].IsKnown() && inf.Shape[i].IsKnown() && why == "" {
				why = "existing shape " + old.String() + ", inferred " + inf.String()
			}
			sh[i] = d
		}
		t.Shape = sh
	}
	return t, why
}
