package bench

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline"
	"github.com/quantprep/quantprep/pipeline/model"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// models are the committed test models, relative to this directory.
func models(tb testing.TB) []string {
	tb.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "testdata", "models", "*.onnx"))
	if err != nil {
		tb.Fatal(err)
	}
	if len(paths) == 0 {
		tb.Fatal("no models under ../testdata/models: the benchmark would measure nothing")
	}
	return paths
}

func name(path string) string { return strings.TrimSuffix(filepath.Base(path), ".onnx") }

// runOnce runs the whole pipeline, load to save, as `quantprep preprocess` does.
func runOnce(tb testing.TB, in, out string, o pipeline.Options) *pipeline.Report {
	tb.Helper()
	rep, err := pipeline.Run(context.Background(), in, out, o, nil)
	if err != nil {
		tb.Fatalf("%s: %v", name(in), err)
	}
	return rep
}

// BenchmarkPipeline measures the whole pipeline with the reference tool's
// defaults (inline save) and with external data, per committed model. B/op
// counts every allocation of a run, loading and saving included.
func BenchmarkPipeline(b *testing.B) {
	ext := pipeline.DefaultOptions()
	ext.SaveAsExternalData = true
	ext.AllTensorsToOneFile = true
	for _, in := range models(b) {
		st, err := os.Stat(in)
		if err != nil {
			b.Fatal(err)
		}
		for _, c := range []struct {
			label string
			opt   pipeline.Options
		}{{"default", pipeline.DefaultOptions()}, {"external", ext}} {
			b.Run(name(in)+"/"+c.label, func(b *testing.B) {
				out := filepath.Join(b.TempDir(), "out.onnx")
				b.SetBytes(st.Size())
				b.ReportAllocs()
				var rep *pipeline.Report
				for b.Loop() {
					rep = runOnce(b, in, out, c.opt)
				}
				b.ReportMetric(float64(rep.NodesBefore), "nodes-in")
				b.ReportMetric(float64(rep.NodesAfter), "nodes-out")
			})
		}
	}
}

// TestPipelineModels checks that every model the benchmark measures goes
// through the pipeline and comes out smaller or equal in nodes, with every
// node output fully shaped, so that the benchmark measures real work and not
// an early failure.
func TestPipelineModels(t *testing.T) {
	for _, in := range models(t) {
		t.Run(name(in), func(t *testing.T) {
			rep := runOnce(t, in, filepath.Join(t.TempDir(), "out.onnx"), pipeline.DefaultOptions())
			if rep.NodesAfter == 0 || rep.NodesAfter > rep.NodesBefore {
				t.Errorf("nodes %d -> %d", rep.NodesBefore, rep.NodesAfter)
			}
			if rep.FullShapesAfter != rep.NodeOutputsAfter {
				t.Errorf("%d of %d node outputs have a full shape", rep.FullShapesAfter, rep.NodeOutputsAfter)
			}
		})
	}
}

// TestRunRemovesSpill runs the pipeline on a model whose folded weight is
// large enough to be spilled to a temporary file beside the output, and
// checks that the output holds the transposed weight and that nothing but the
// output is left in its directory.
func TestRunRemovesSpill(t *testing.T) {
	s := func(v string) *string { return &v }
	f := int32(tensor.Float)
	const rows, cols = 1024, 512
	vals := make([]float32, rows*cols)
	for i := range vals {
		vals[i] = float32(i % 1009)
	}
	typ := &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{ElemType: &f,
		Shape: &onnxpb.TensorShapeProto{Dim: []*onnxpb.TensorShapeProto_Dimension{{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "n"}},
			{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: cols}}}}}}}
	ir, v := int64(8), int64(17)
	mp := &onnxpb.ModelProto{IrVersion: &ir, OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: &v}}, Graph: &onnxpb.GraphProto{
		Name: s("g"), Input: []*onnxpb.ValueInfoProto{{Name: s("x"), Type: typ}}, Output: []*onnxpb.ValueInfoProto{{Name: s("y")}},
		Initializer: []*onnxpb.TensorProto{tensor.FromFloat32s([]int64{rows, cols}, vals).Proto("w")},
		Node: []*onnxpb.NodeProto{
			{OpType: s("Transpose"), Name: s("t"), Input: []string{"w"}, Output: []string{"wt"}},
			{OpType: s("MatMul"), Name: s("mm"), Input: []string{"x", "wt"}, Output: []string{"y"}},
		}}}
	b, err := proto.Marshal(mp)
	if err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(t.TempDir(), "in.onnx")
	if err := os.WriteFile(in, b, 0o644); err != nil {
		t.Fatal(err)
	}
	outDir := t.TempDir()
	out := filepath.Join(outDir, "out.onnx")
	runOnce(t, in, out, pipeline.DefaultOptions())
	m, err := model.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	var wt *tensor.Tensor
	for _, tp := range m.Graph().GetInitializer() {
		if tp.GetName() == "wt" {
			if wt, err = m.Tensor(tp); err != nil {
				t.Fatal(err)
			}
		}
	}
	if wt == nil || len(wt.F32) != rows*cols || wt.F32[1] != float32(cols%1009) {
		t.Fatalf("output has no transposed weight wt")
	}
	entries, _ := os.ReadDir(outDir)
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("output directory holds %v; want only out.onnx", names)
	}
}
