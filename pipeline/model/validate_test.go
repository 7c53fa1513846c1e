package model

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// countParsed counts the nodes of a parsed model as CountNodes counts them.
func countParsed(mp *onnxpb.ModelProto) int64 { return CountParsedNodes(mp) }

func TestCountNodes(t *testing.T) {
	mp := testModel()
	sub := &onnxpb.GraphProto{Node: []*onnxpb.NodeProto{{OpType: proto.String("Neg")}, {OpType: proto.String("Neg")}}}
	mp.Graph.Node = append(mp.Graph.Node, &onnxpb.NodeProto{OpType: proto.String("If"), Attribute: []*onnxpb.AttributeProto{
		{Name: proto.String("then_branch"), G: sub}, {Name: proto.String("else_branch"), Graphs: []*onnxpb.GraphProto{sub, sub}}}})
	mp.Functions = []*onnxpb.FunctionProto{{Name: proto.String("f"), Node: []*onnxpb.NodeProto{{OpType: proto.String("Neg")}}}}
	b, err := proto.Marshal(mp)
	if err != nil {
		t.Fatal(err)
	}
	got, err := CountNodes(b, 1<<20)
	if want := countParsed(mp); err != nil || got != want {
		t.Fatalf("CountNodes = %d, %v; want %d", got, err, want)
	}
	if got, _ := CountNodes(b, 2); got != 3 {
		t.Errorf("CountNodes past a limit of 2 = %d, want it to stop at 3", got)
	}
}

// FuzzValidate: on any bytes that parse, CountNodes agrees with the parsed
// model, and Validate's promise holds: every tensor it accepts that is
// inline and of a decodable type decodes. Densify never panics.
func FuzzValidate(f *testing.F) {
	b, _ := proto.Marshal(testModel())
	f.Add(b)
	sp := testModel()
	sp.Graph.SparseInitializer = []*onnxpb.SparseTensorProto{{
		Values:  tensor.FromFloat32s([]int64{2}, []float32{1, 2}).Proto("s"),
		Indices: tensor.FromInt64s([]int64{2, 2}, []int64{0, 1, 1, 0}).Proto(""),
		Dims:    []int64{2, 2}}}
	b, _ = proto.Marshal(sp)
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		mp := &onnxpb.ModelProto{}
		if proto.Unmarshal(b, mp) != nil {
			return
		}
		if n, err := CountNodes(b, 1<<40); err != nil || n != countParsed(mp) {
			t.Fatalf("CountNodes = %d, %v; the parsed model has %d nodes", n, err, countParsed(mp))
		}
		if Validate(mp) == nil {
			walkTensors(mp, func(v tensorVisit) {
				d := tensor.DType(v.tp.GetDataType())
				if IsExternal(v.tp) || !d.Decodable() || v.tp.GetSegment() != nil {
					return
				}
				if _, err := tensor.Decode(v.tp, nil); err != nil {
					t.Fatalf("Validate accepted tensor %q that does not decode: %v", v.tp.GetName(), err)
				}
			})
		}
		m := &Model{Proto: mp}
		if mp.GetGraph() != nil {
			if err := m.Densify(1 << 20); err != nil && !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("Densify: %v wraps neither ErrInvalid nor ErrUnsupported", err)
			}
		}
	})
}
