//go:build ortoracle

package e2e

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline"
	"github.com/quantprep/quantprep/pipeline/model"
)

// dims are the values of the models' symbolic input dims.
var dims = map[string]int64{"batch": 2, "sequence": 7}

// models are the committed test models (testdata/models).
var models = []string{"bert-tiny", "gpt2-tiny", "lstm-tagger-small", "cnn-tiny"}

func modelPath(name string) string {
	return filepath.Join("..", "testdata", "models", name+".onnx")
}

// reference is an original model's inputs and ONNX Runtime's outputs on them.
type reference struct {
	ins  []input
	outs map[string]output
	err  error
}

var references sync.Map // model name -> *reference, computed once

func referenceFor(t *testing.T, name string) *reference {
	t.Helper()
	v, _ := references.LoadOrStore(name, &reference{})
	r := v.(*reference)
	// Tests of one model run one after the other, so the race of two first
	// computations cannot happen; the sync.Map only shares the result.
	if r.ins == nil && r.err == nil {
		m, err := model.Load(modelPath(name))
		if err != nil {
			t.Fatalf("load the original: %v", err)
		}
		if r.ins, r.err = makeInputs(m, dims); r.err == nil {
			r.outs, r.err = runORT(modelPath(name), r.ins)
		}
	}
	if r.err != nil {
		t.Fatalf("original %s: %v", name, r.err)
	}
	return r
}

// checkAndRun passes the model at p through onnx.checker and runs it in ONNX
// Runtime on ref's inputs, stopping the test if either refuses it, and
// returns the outputs for the comparison with ref's.
func checkAndRun(t *testing.T, p string, ref *reference) map[string]output {
	t.Helper()
	if err := onnxCheck(p); err != nil {
		t.Fatal(err)
	}
	got, err := runORT(p, ref.ins)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// process runs the pipeline in-process on the named model with o and judges the
// output with the oracles.
func process(t *testing.T, name string, o pipeline.Options) {
	processFrom(t, name, modelPath(name), o)
}

// processFrom is process on the copy of the named model at in (the same
// model, saved another way), judged against the original's outputs.
func processFrom(t *testing.T, name, in string, o pipeline.Options) {
	needORT(t)
	needPythonONNX(t)
	ref := referenceFor(t, name)
	dir := t.TempDir()
	out := filepath.Join(dir, name+".pre.onnx")
	rep, err := pipeline.Run(t.Context(), in, out, o, nil)
	if err != nil {
		t.Fatalf("pipeline.Run: %v", err)
	}
	if err := checkFiles(dir, out, o, rep); err != nil {
		t.Error(err)
	}
	got := checkAndRun(t, out, ref)
	m, err := model.Load(out)
	if err != nil {
		t.Fatalf("load the output: %v", err)
	}
	if err := checkTag(m); err != nil {
		t.Error(err)
	}
	diffs, err := compareOutputs(ref.outs, got)
	if err != nil {
		t.Error(err)
	}
	for name, d := range diffs {
		t.Logf("output %s: max relative difference %.3g, max absolute near zero (|value| <= %.3g) %.3g", name, d.maxRel, nearZero*d.scale, d.maxAbsNearZero)
	}
	shapesErr := checkShapes(m, dims, got)
	if o.SkipSymbolicShape {
		// ONNX shape inference alone cannot follow shape arithmetic, so full
		// shapes are only required when symbolic inference ran; the graph
		// outputs' declared shapes must still agree with ONNX Runtime.
		outputs, full := pipeline.ShapeStats(m)
		t.Logf("symbolic shape inference skipped: %d of %d node outputs have a full shape", full, outputs)
		shapesErr = checkShapes(stripNodes(m), dims, got)
	}
	if shapesErr != nil {
		t.Error(shapesErr)
	}
	t.Logf("%d -> %d nodes, %d of %d node outputs with full shapes, %s", rep.NodesBefore, rep.NodesAfter,
		rep.FullShapesAfter, rep.NodeOutputsAfter, rep.Duration)
}

// stripNodes is m without its nodes, so that checkShapes looks at the graph
// outputs only.
func stripNodes(m *model.Model) *model.Model {
	g := &onnxpb.GraphProto{Output: m.Graph().GetOutput()}
	return &model.Model{Proto: &onnxpb.ModelProto{Graph: g}}
}

// checkFiles checks the files the run wrote: the report lists exactly what is in
// the output directory (no temporary file left), the model first; an inline save
// writes one file with no external tensor; an external save moves the large
// initializers out, to one file with all_tensors_to_one_file and to a file per
// tensor without it.
func checkFiles(dir, out string, o pipeline.Options, rep *pipeline.Report) error {
	var onDisk []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			onDisk = append(onDisk, p)
		}
		return err
	})
	if err != nil {
		return err
	}
	reported := append([]string(nil), rep.Files...)
	sort.Strings(onDisk)
	sort.Strings(reported)
	if strings.Join(onDisk, "\n") != strings.Join(reported, "\n") {
		return fmt.Errorf("report lists files %q, the output directory holds %q", rep.Files, onDisk)
	}
	if len(rep.Files) == 0 || rep.Files[0] != out {
		return fmt.Errorf("report lists files %q, want the model %s first", rep.Files, out)
	}
	m, err := model.Load(out)
	if err != nil {
		return err
	}
	locations := map[string]bool{}
	external, large := 0, 0
	for _, tp := range m.Graph().GetInitializer() {
		if model.IsExternal(tp) {
			external++
			ref, err := model.ParseExternal(tp)
			if err != nil {
				return err
			}
			locations[ref.Location] = true
			continue
		}
		if n := int64(len(tp.GetRawData())); n >= o.ExternalDataSizeThreshold {
			large++
		}
	}
	switch {
	case !o.SaveAsExternalData && (external > 0 || len(rep.Files) != 1):
		return fmt.Errorf("inline save: %d external tensors, files %q", external, rep.Files)
	case !o.SaveAsExternalData:
		return nil
	case external == 0:
		return fmt.Errorf("external save moved no tensor out (%d inline tensors of at least %d bytes)", large, o.ExternalDataSizeThreshold)
	case large > 0:
		return fmt.Errorf("external save left %d tensors of at least %d bytes inline", large, o.ExternalDataSizeThreshold)
	case o.AllTensorsToOneFile && len(locations) != 1:
		return fmt.Errorf("all_tensors_to_one_file: %d external files %v", len(locations), locations)
	case !o.AllTensorsToOneFile && len(locations) != external:
		return fmt.Errorf("one file per tensor: %d external tensors in %d files", external, len(locations))
	case len(rep.Files) != 1+len(locations):
		return fmt.Errorf("report lists files %q for external locations %v", rep.Files, locations)
	}
	for loc := range locations {
		if _, err := os.Stat(filepath.Join(dir, loc)); err != nil {
			return fmt.Errorf("external data file: %w", err)
		}
	}
	return nil
}

// TestModels runs the whole pipeline with the reference defaults on each test
// model and judges the result with onnx.checker and ONNX Runtime.
func TestModels(t *testing.T) {
	for _, name := range models {
		t.Run(name, func(t *testing.T) {
			process(t, name, pipeline.DefaultOptions())
		})
	}
}

// TestFlagCombinations runs every combination of the three skip flags, saved
// inline and with external data, on cnn-tiny, given inline and given with its
// weights in external data (the reference tool fails the latter whenever
// symbolic shape inference is skipped).
func TestFlagCombinations(t *testing.T) {
	const name = "cnn-tiny"
	externalIn := filepath.Join(t.TempDir(), name+".onnx")
	m, err := model.Load(modelPath(name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Save(externalIn, model.SaveOptions{ExternalData: true, AllTensorsToOneFile: true, SizeThreshold: 1024}); err != nil {
		t.Fatal(err)
	}
	for mask := range 8 {
		for _, external := range []bool{false, true} {
			o := pipeline.DefaultOptions()
			o.SkipSymbolicShape = mask&1 != 0
			o.SkipOptimization = mask&2 != 0
			o.SkipONNXShape = mask&4 != 0
			o.SaveAsExternalData = external
			// Half the external runs write one file, half a file per tensor.
			o.AllTensorsToOneFile = external && mask%2 == 1
			label := fmt.Sprintf("symbolic=%t,optimize=%t,onnx=%t,external=%t,one_file=%t",
				!o.SkipSymbolicShape, !o.SkipOptimization, !o.SkipONNXShape, external, o.AllTensorsToOneFile)
			t.Run(label, func(t *testing.T) { process(t, name, o) })
			t.Run(label+",external_input", func(t *testing.T) { processFrom(t, name, externalIn, o) })
		}
	}
}
