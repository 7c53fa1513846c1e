package bench

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quantprep/quantprep/pipeline"
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
