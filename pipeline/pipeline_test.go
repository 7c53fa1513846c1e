package pipeline

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/model"
)

// addModel is y = x + b with x: float[N, 4] and b an initializer.
func addModel() *onnxpb.ModelProto {
	f := int32(1)
	dim := func(v int64, p string) *onnxpb.TensorShapeProto_Dimension {
		if p != "" {
			return &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: p}}
		}
		return &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: v}}
	}
	vi := func(name string) *onnxpb.ValueInfoProto {
		return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: &f, Shape: &onnxpb.TensorShapeProto{Dim: []*onnxpb.TensorShapeProto_Dimension{dim(0, "N"), dim(4, "")}}}}}}
	}
	return &onnxpb.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)}},
		Graph: &onnxpb.GraphProto{
			Name:        proto.String("g"),
			Node:        []*onnxpb.NodeProto{{Name: proto.String("add"), OpType: proto.String("Add"), Input: []string{"x", "b"}, Output: []string{"y"}}},
			Initializer: []*onnxpb.TensorProto{{Name: proto.String("b"), DataType: &f, Dims: []int64{4}, FloatData: []float32{1, 2, 3, 4}}},
			Input:       []*onnxpb.ValueInfoProto{vi("x")},
			Output:      []*onnxpb.ValueInfoProto{vi("y")},
		},
	}
}

func writeModel(t *testing.T, dir string, mp *onnxpb.ModelProto) string {
	t.Helper()
	b, err := proto.Marshal(mp)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "in.onnx")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func skipAll() Options {
	o := DefaultOptions()
	o.SkipSymbolicShape, o.SkipOptimization, o.SkipONNXShape = true, true, true
	return o
}

func TestRunSkipAllTagsAndSaves(t *testing.T) {
	dir := t.TempDir()
	in := writeModel(t, dir, addModel())
	out := filepath.Join(dir, "out.onnx")
	var events []string
	rep, err := Run(context.Background(), in, out, skipAll(), func(e Event) {
		events = append(events, e.Step+":"+e.Phase.String())
	})
	if err != nil {
		t.Fatal(err)
	}
	wantEvents := []string{"symbolic_shape:skipped", "optimize:skipped", "onnx_shape:skipped",
		"tag:started", "tag:finished", "save:started", "save:finished"}
	if !reflect.DeepEqual(events, wantEvents) {
		t.Errorf("events = %v, want %v", events, wantEvents)
	}
	if len(rep.Files) != 1 || rep.Files[0] != out {
		t.Errorf("Files = %v, want [%s]", rep.Files, out)
	}
	if rep.NodesBefore != 1 || rep.NodesAfter != 1 || rep.NodeOutputsAfter != 1 || rep.FullShapesAfter != 1 {
		t.Errorf("report counts = %+v", rep)
	}
	m, err := model.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	props := m.Proto.GetMetadataProps()
	if len(props) != 1 || props[0].GetKey() != model.PreProcessKey || props[0].GetValue() != model.PreProcessValue {
		t.Errorf("metadata_props = %v, want the pre-process tag", props)
	}
}

func TestRunKeepsExistingTag(t *testing.T) {
	dir := t.TempDir()
	mp := addModel()
	mp.MetadataProps = []*onnxpb.StringStringEntryProto{{Key: proto.String(model.PreProcessKey), Value: proto.String("other")}}
	in := writeModel(t, dir, mp)
	out := filepath.Join(dir, "out.onnx")
	if _, err := Run(context.Background(), in, out, skipAll(), nil); err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if props := m.Proto.GetMetadataProps(); len(props) != 1 || props[0].GetValue() != "other" {
		t.Errorf("metadata_props = %v, want the existing value kept", props)
	}
}

func TestRunCanceledWritesNothing(t *testing.T) {
	dir := t.TempDir()
	in := writeModel(t, dir, addModel())
	out := filepath.Join(dir, "out.onnx")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, in, out, skipAll(), nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run() = %v, want context.Canceled", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("dir holds %d entries, want only the input", len(entries))
	}
}

func TestRunRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.onnx")
	if err := os.WriteFile(in, []byte("this is not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Run(context.Background(), in, filepath.Join(dir, "out.onnx"), skipAll(), nil)
	if !errors.Is(err, model.ErrInvalid) {
		t.Fatalf("Run() = %v, want model.ErrInvalid", err)
	}
	o := skipAll()
	o.Verbose = 2
	if _, err := Run(context.Background(), in, filepath.Join(dir, "out.onnx"), o, nil); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("Run() = %v, want ErrInvalidOptions", err)
	}
}

// TestRefusesCertainlyTooLargeEarly: a model whose kept weights alone pass
// 2 GB is refused with ErrTooLarge before any step runs (its external data
// does not even exist: nothing is read), unless it is saved with external data.
func TestRefusesCertainlyTooLargeEarly(t *testing.T) {
	mp := addModel()
	g := mp.Graph
	g.Node = []*onnxpb.NodeProto{{Name: proto.String("mm"), OpType: proto.String("MatMul"), Input: []string{"x", "w"}, Output: []string{"y"}}}
	const rows = 600 << 20 // 4 x 600 Mi floats: 2.5 GB
	g.Initializer = []*onnxpb.TensorProto{{Name: proto.String("w"), DataType: proto.Int32(1), Dims: []int64{4, rows},
		DataLocation: onnxpb.TensorProto_EXTERNAL.Enum(), ExternalData: []*onnxpb.StringStringEntryProto{
			{Key: proto.String("location"), Value: proto.String("missing.bin")}}}}
	dir := t.TempDir()
	in := writeModel(t, dir, mp)
	var events []Event
	_, err := Run(context.Background(), in, filepath.Join(dir, "out.onnx"), DefaultOptions(), func(e Event) { events = append(events, e) })
	if !errors.Is(err, model.ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	if len(events) != 0 {
		t.Errorf("steps ran before the refusal: %v", events)
	}
	o := DefaultOptions()
	o.SaveAsExternalData = true
	if _, err := Run(context.Background(), in, filepath.Join(dir, "out.onnx"), o, nil); errors.Is(err, model.ErrTooLarge) {
		t.Errorf("with external data: %v", err)
	}
}

// TestModelTruncatedWhileMapped: a model file cut short while the pipeline
// reads it through its mapping gives an error naming the file, not a crash,
// and leaves no output behind.
func TestModelTruncatedWhileMapped(t *testing.T) {
	mp := addModel()
	g := mp.Graph
	const rows, cols = 512, 512 // 1 MiB of floats, in raw_data: a view of the mapping
	raw := make([]byte, 4*rows*cols)
	for i := range raw {
		raw[i] = byte(i * 7)
	}
	g.Initializer = []*onnxpb.TensorProto{{Name: proto.String("w"), DataType: proto.Int32(1), Dims: []int64{rows, cols}, RawData: raw}}
	g.Node = []*onnxpb.NodeProto{
		{Name: proto.String("t"), OpType: proto.String("Transpose"), Input: []string{"w"}, Output: []string{"wt"}},
		{Name: proto.String("mm"), OpType: proto.String("MatMul"), Input: []string{"x", "wt"}, Output: []string{"y"}},
	}
	dir := t.TempDir()
	in := writeModel(t, dir, mp)
	out := filepath.Join(dir, "out", "out.onnx")
	if err := os.Mkdir(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Run(context.Background(), in, out, DefaultOptions(), func(e Event) {
		if e.Step == "save" && e.Phase == Started {
			if err := os.Truncate(in, 100); err != nil {
				t.Fatal(err)
			}
		}
	})
	if !errors.Is(err, model.ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
	t.Log(err)
	if left, _ := os.ReadDir(filepath.Dir(out)); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}

// TestRunSortsNodes: an input whose nodes are out of order (ONNX Runtime
// accepts it) comes out sorted whichever steps run; a cycle is refused.
func TestRunSortsNodes(t *testing.T) {
	unsorted := func() *onnxpb.ModelProto {
		mp := addModel()
		g := mp.Graph
		g.Node[0].Input[0] = "r"
		g.Node = append(g.Node, &onnxpb.NodeProto{Name: proto.String("relu"), OpType: proto.String("Relu"), Input: []string{"x"}, Output: []string{"r"}})
		return mp
	}
	for _, o := range []Options{DefaultOptions(), skipAll()} {
		dir := t.TempDir()
		out := filepath.Join(dir, "out.onnx")
		if _, err := Run(context.Background(), writeModel(t, dir, unsorted()), out, o, nil); err != nil {
			t.Fatal(err)
		}
		m, err := model.Load(out)
		if err != nil {
			t.Fatal(err)
		}
		if err := model.CheckTopological(m.Graph()); err != nil {
			t.Errorf("output not sorted: %v", err)
		}
	}
	cyclic := unsorted()
	cyclic.Graph.Node[1].Input[0] = "y"
	dir := t.TempDir()
	_, err := Run(context.Background(), writeModel(t, dir, cyclic), filepath.Join(dir, "out.onnx"), DefaultOptions(), nil)
	if !errors.Is(err, model.ErrInvalid) || err == nil || !strings.Contains(err.Error(), `cycle: node "add" (Add) -> node "relu" (Relu) -> node "add" (Add)`) {
		t.Errorf("cycle: err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "out.onnx")); !os.IsNotExist(err) {
		t.Errorf("a refused model left an output: %v", err)
	}
}
