package model

import (
	"slices"
	"testing"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"google.golang.org/protobuf/proto"
)

func TestAttrs(t *testing.T) {
	n := &onnxpb.NodeProto{Attribute: []*onnxpb.AttributeProto{
		{Name: proto.String("axis"), I: proto.Int64(-1)},
		{Name: proto.String("alpha"), F: proto.Float32(0.5)},
		{Name: proto.String("mode"), S: []byte("reflect")},
		{Name: proto.String("perm"), Ints: []int64{1, 0}},
		{Name: proto.String("scales"), Floats: []float32{2}},
		{Name: proto.String("value"), T: &onnxpb.TensorProto{Name: proto.String("v")}},
		{Name: proto.String("body"), G: &onnxpb.GraphProto{Name: proto.String("b")}},
		{Name: proto.String("axis"), I: proto.Int64(7)}, // a duplicate: the first wins
	}}
	a := AttrsOf(n)
	tests := []struct {
		name      string
		got, want any
	}{
		{"Int present", a.Int("axis", 0), int64(-1)},
		{"Int absent", a.Int("keepdims", 1), int64(1)},
		{"Float present", a.Float("alpha", 1), float32(0.5)},
		{"Float absent", a.Float("beta", 1), float32(1)},
		{"String present", a.String("mode", "constant"), "reflect"},
		{"String absent", a.String("auto_pad", "NOTSET"), "NOTSET"},
		{"Has present", a.Has("perm"), true},
		{"Has absent", a.Has("nope"), false},
		{"Tensor", a.Tensor("value").GetName(), "v"},
		{"Tensor absent", a.Tensor("nope") == nil, true},
		{"Graph", a.Graph("body").GetName(), "b"},
		{"Graph absent", a.Graph("then_branch") == nil, true},
		{"Get absent", a.Get("nope") == nil, true},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	if v, ok := a.Ints("perm"); !ok || !slices.Equal(v, []int64{1, 0}) {
		t.Errorf("Ints(perm) = %v, %v", v, ok)
	}
	if v, ok := a.Ints("pads"); ok || v != nil {
		t.Errorf("Ints(pads) = %v, %v; want absent", v, ok)
	}
	if v, ok := a.Floats("scales"); !ok || !slices.Equal(v, []float32{2}) {
		t.Errorf("Floats(scales) = %v, %v", v, ok)
	}
	if v, ok := a.Floats("sizes"); ok || v != nil {
		t.Errorf("Floats(sizes) = %v, %v; want absent", v, ok)
	}
}

func TestDefaultDomain(t *testing.T) {
	for _, tc := range []struct {
		d    string
		def  bool
		norm string
	}{{"", true, ""}, {"ai.onnx", true, ""}, {"ai.onnx.ml", false, "ai.onnx.ml"}, {"com.microsoft", false, "com.microsoft"}} {
		if got := IsDefaultDomain(tc.d); got != tc.def {
			t.Errorf("IsDefaultDomain(%q) = %v, want %v", tc.d, got, tc.def)
		}
		if got := NormDomain(tc.d); got != tc.norm {
			t.Errorf("NormDomain(%q) = %q, want %q", tc.d, got, tc.norm)
		}
	}
}
