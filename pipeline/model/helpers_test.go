package model

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
)

// Small constructors for test models, built in Go so that no binary fixture is
// needed.

func ptr[T any](v T) *T { return &v }

// rawFloats is a float tensor with n distinct values in raw_data.
func rawFloats(name string, n int) *onnxpb.TensorProto {
	raw := make([]byte, 4*n)
	for i := range n {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(float32(i)+float32(len(name))/8))
	}
	return &onnxpb.TensorProto{Name: ptr(name), DataType: ptr(int32(onnxpb.TensorProto_FLOAT)), Dims: []int64{int64(n)}, RawData: raw}
}

// typedInt64s is an int64 tensor with n values in int64_data.
func typedInt64s(name string, n int) *onnxpb.TensorProto {
	v := make([]int64, n)
	for i := range v {
		v[i] = int64(i*7 - 3)
	}
	return &onnxpb.TensorProto{Name: ptr(name), DataType: ptr(int32(onnxpb.TensorProto_INT64)), Dims: []int64{int64(n)}, Int64Data: v}
}

func valueInfo(name string) *onnxpb.ValueInfoProto {
	return &onnxpb.ValueInfoProto{Name: ptr(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
		TensorType: &onnxpb.TypeProto_Tensor{ElemType: ptr(int32(onnxpb.TensorProto_FLOAT))}}}}
}

func node(op, name string, in, out []string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
	return &onnxpb.NodeProto{OpType: ptr(op), Name: ptr(name), Input: in, Output: out, Attribute: attrs}
}

func graphAttr(name string, g *onnxpb.GraphProto) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: ptr(name), Type: onnxpb.AttributeProto_GRAPH.Enum(), G: g}
}

func tensorAttr(name string, t *onnxpb.TensorProto) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: ptr(name), Type: onnxpb.AttributeProto_TENSOR.Enum(), T: t}
}

// testModel has, besides small and large initializers in the main graph, an If
// whose branches hold initializers of their own and a Constant with a large
// value (which must stay inline):
//
//	big(raw 4 KiB), small(raw 64 B), typed(int64_data 2 KiB), big2 (raw 2 KiB)
//	c = Constant<value=cval(4 KiB)>
//	s = Add(x, big); y = If(cond){then: thenw(2 KiB) ; else: elsew(16 B)}
func testModel() *onnxpb.ModelProto {
	then := &onnxpb.GraphProto{Name: ptr("then"),
		Initializer: []*onnxpb.TensorProto{rawFloats("thenw", 512)},
		Node:        []*onnxpb.NodeProto{node("Add", "then_add", []string{"s", "thenw"}, []string{"t"})},
		Output:      []*onnxpb.ValueInfoProto{valueInfo("t")}}
	els := &onnxpb.GraphProto{Name: ptr("else"),
		Initializer: []*onnxpb.TensorProto{rawFloats("elsew", 4)},
		Node:        []*onnxpb.NodeProto{node("Add", "else_add", []string{"s", "elsew"}, []string{"e"})},
		Output:      []*onnxpb.ValueInfoProto{valueInfo("e")}}
	g := &onnxpb.GraphProto{
		Name: ptr("main"),
		Initializer: []*onnxpb.TensorProto{
			rawFloats("big", 1024), rawFloats("small", 16), typedInt64s("typed", 256), rawFloats("big2", 512),
		},
		Node: []*onnxpb.NodeProto{
			node("Constant", "const", nil, []string{"c"}, tensorAttr("value", rawFloats("cval", 1024))),
			node("Add", "add", []string{"x", "big"}, []string{"s"}),
			node("If", "if", []string{"cond"}, []string{"y"}, graphAttr("then_branch", then), graphAttr("else_branch", els)),
		},
		Input:  []*onnxpb.ValueInfoProto{valueInfo("x"), valueInfo("cond")},
		Output: []*onnxpb.ValueInfoProto{valueInfo("y"), valueInfo("c")},
	}
	return &onnxpb.ModelProto{IrVersion: ptr(int64(8)), ProducerName: ptr("quantprep-test"),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: ptr(""), Version: ptr(int64(17))}}, Graph: g}
}

// writeProto marshals mp to dir/name and returns the path.
func writeProto(t testing.TB, dir, name string, mp *onnxpb.ModelProto) string {
	t.Helper()
	b, err := proto.Marshal(mp)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// allTensors lists the model's tensors by name.
func allTensors(mp *onnxpb.ModelProto) map[string]tensorVisit {
	out := map[string]tensorVisit{}
	walkTensors(mp, func(v tensorVisit) { out[v.tp.GetName()] = v })
	return out
}

// tensorBytes returns each tensor's data in raw encoding, reading external data.
func tensorBytes(t *testing.T, m *Model) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for name, v := range allTensors(m.Proto) {
		tt, err := m.Tensor(v.tp)
		if err != nil {
			t.Fatalf("tensor %s: %v", name, err)
		}
		out[name] = tt.Raw()
	}
	return out
}

// dirFiles lists the names of the files under dir, recursively, with their sizes.
func dirFiles(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out[filepath.ToSlash(rel)] = fi.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
