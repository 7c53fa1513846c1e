//go:build ortoracle

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline"
	"github.com/quantprep/quantprep/pipeline/model"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// TestInputs checks that the generated inputs are in the models' valid ranges.
func TestInputs(t *testing.T) {
	m, err := model.Load(modelPath("bert-tiny"))
	if err != nil {
		t.Fatal(err)
	}
	ins, err := makeInputs(m, dims)
	if err != nil {
		t.Fatal(err)
	}
	vocab := int64(0)
	for _, tp := range m.Graph().GetInitializer() {
		if tp.GetName() == "tok.weight" {
			vocab = tp.GetDims()[0]
		}
	}
	if vocab == 0 {
		t.Fatal("bert-tiny has no token embedding tok.weight")
	}
	seen := map[string]map[int64]bool{}
	for _, in := range ins {
		if got := in.shape; len(got) != 2 || got[0] != 2 || got[1] != 7 {
			t.Errorf("%s: shape %v, want [2 7]", in.name, got)
		}
		seen[in.name] = map[int64]bool{}
		for _, v := range in.i64 {
			seen[in.name][v] = true
		}
	}
	for v := range seen["input_ids"] {
		if v < 0 || v >= vocab {
			t.Errorf("input_ids holds %d, outside [0, %d)", v, vocab)
		}
	}
	if len(seen["input_ids"]) < 5 {
		t.Errorf("input_ids has only %d distinct values", len(seen["input_ids"]))
	}
	if len(seen["attention_mask"]) != 1 || !seen["attention_mask"][1] {
		t.Errorf("attention_mask holds %v, want ones", seen["attention_mask"])
	}
	if len(seen["token_type_ids"]) != 2 || !seen["token_type_ids"][0] || !seen["token_type_ids"][1] {
		t.Errorf("token_type_ids holds %v, want 0 and 1", seen["token_type_ids"])
	}
	if _, err := makeInputs(m, map[string]int64{"batch": 2}); err == nil {
		t.Error("makeInputs without a value for sequence succeeded")
	}
}

// TestHarnessCatchesBadOutputs feeds the judges models that are wrong in known
// ways and expects each to be caught.
func TestHarnessCatchesBadOutputs(t *testing.T) {
	needORT(t)
	needPythonONNX(t)
	const name = "cnn-tiny"
	ref := referenceFor(t, name)
	dir := t.TempDir()
	save := func(t *testing.T, m *model.Model, file string) string {
		t.Helper()
		p := filepath.Join(dir, file)
		if _, err := m.Save(p, model.SaveOptions{}); err != nil {
			t.Fatal(err)
		}
		return p
	}
	load := func(t *testing.T) *model.Model {
		t.Helper()
		m, err := model.Load(modelPath(name))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}

	t.Run("the original passes", func(t *testing.T) {
		m := load(t)
		p := save(t, m, "same.onnx")
		got := checkAndRun(t, p, ref)
		if _, err := compareOutputs(ref.outs, got); err != nil {
			t.Errorf("an unchanged model differs: %v", err)
		}
		if err := checkTag(m); err == nil {
			t.Error("an untagged model passes the tag check")
		}
		if err := checkShapes(m, dims, got); err == nil || !strings.Contains(err.Error(), "lack a type or a full shape") {
			t.Errorf("a model without value_info passes the shape check: %v", err)
		}
	})

	t.Run("a changed weight", func(t *testing.T) {
		m := load(t)
		var w *onnxpb.TensorProto
		for _, tp := range m.Graph().GetInitializer() {
			if len(tp.GetDims()) == 4 {
				w = tp
				break
			}
		}
		if w == nil {
			t.Fatal("no convolution weight")
		}
		v, err := tensor.Decode(w, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range v.F32 {
			v.F32[i] *= 1.001
		}
		*w = *v.Proto(w.GetName())
		p := save(t, m, "changed.onnx")
		got, err := runORT(p, ref.ins)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := compareOutputs(ref.outs, got); err == nil {
			t.Error("outputs of a model with a weight scaled by 1.001 pass the comparison")
		} else {
			t.Logf("caught: %v", err)
		}
	})

	t.Run("a wrong output shape", func(t *testing.T) {
		m := load(t)
		d := m.Graph().GetOutput()[0].GetType().GetTensorType().GetShape().GetDim()
		last := d[len(d)-1]
		last.Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: last.GetDimValue() + 1}
		if err := checkShapes(stripNodes(m), dims, ref.outs); err == nil {
			t.Error("a graph output declared with a wrong dim passes the shape check")
		}
		if err := onnxCheck(save(t, m, "wrong-shape.onnx")); err == nil {
			t.Error("onnx.checker with full_check accepts a graph output shape that contradicts inference")
		}
	})

	t.Run("a dangling input", func(t *testing.T) {
		m := load(t)
		n := m.Graph().GetNode()[len(m.Graph().GetNode())-1]
		n.Input[0] = "nowhere"
		if err := onnxCheck(save(t, m, "dangling.onnx")); err == nil {
			t.Error("onnx.checker accepts a node input that nothing defines")
		}
	})

	for _, oneFile := range []bool{true, false} {
		t.Run(fmt.Sprintf("external data written by onnx, one_file=%t", oneFile), func(t *testing.T) {
			sub := t.TempDir()
			p := filepath.Join(sub, "ext.onnx")
			script := `import sys, onnx
onnx.save_model(onnx.load(sys.argv[1]), sys.argv[2], save_as_external_data=True,
                all_tensors_to_one_file=sys.argv[3] == "1", location="ext.onnx.data" if sys.argv[3] == "1" else None)`
			flag := map[bool]string{true: "1", false: "0"}[oneFile]
			if out, err := exec.Command(python(), "-c", script, modelPath(name), p, flag).CombinedOutput(); err != nil {
				t.Fatalf("onnx.save_model: %v\n%s", err, out)
			}
			m, err := model.Load(p)
			if err != nil {
				t.Fatal(err)
			}
			rep := &pipeline.Report{Files: []string{p}}
			seen := map[string]bool{}
			for _, tp := range m.Graph().GetInitializer() {
				if model.IsExternal(tp) {
					ref, err := model.ParseExternal(tp)
					if err != nil {
						t.Fatal(err)
					}
					if !seen[ref.Location] {
						seen[ref.Location] = true
						rep.Files = append(rep.Files, filepath.Join(sub, ref.Location))
					}
				}
			}
			o := pipeline.DefaultOptions()
			o.SaveAsExternalData, o.AllTensorsToOneFile = true, oneFile
			if err := checkFiles(sub, p, o, rep); err != nil {
				t.Errorf("onnx's own external save fails the file check: %v", err)
			}
			o.AllTensorsToOneFile = !oneFile
			if err := checkFiles(sub, p, o, rep); err == nil {
				t.Errorf("the file check does not see all_tensors_to_one_file=%t", oneFile)
			}
			o.AllTensorsToOneFile = oneFile
			got := checkAndRun(t, p, ref)
			if _, err := compareOutputs(ref.outs, got); err != nil {
				t.Errorf("external data changes the outputs: %v", err)
			}
			if err := os.WriteFile(filepath.Join(sub, ".ext.onnx.tmp123"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := checkFiles(sub, p, o, rep); err == nil {
				t.Error("a leftover temporary file passes the file check")
			}
		})
	}

	t.Run("different outputs", func(t *testing.T) {
		for _, tt := range []struct {
			name string
			edit func(map[string]output)
		}{
			{"value", func(o map[string]output) { o["logits"].values[3] *= 1.01 }},
			{"near zero", func(o map[string]output) { o["logits"].values[0] = 0; o["logits"].values[0] += 2e-4 }},
			{"shape", func(o map[string]output) {
				x := o["logits"]
				x.shape = []int64{1, 20}
				o["logits"] = x
			}},
			{"missing", func(o map[string]output) { delete(o, "logits") }},
			{"extra", func(o map[string]output) { o["more"] = output{} }},
		} {
			got := map[string]output{}
			want := map[string]output{}
			for k, v := range ref.outs {
				got[k] = output{shape: v.shape, values: append([]float64(nil), v.values...)}
				want[k] = output{shape: v.shape, values: append([]float64(nil), v.values...)}
			}
			if tt.name == "near zero" {
				want["logits"].values[0] = 0
			}
			tt.edit(got)
			if _, err := compareOutputs(want, got); err == nil {
				t.Errorf("%s: a difference passes the comparison", tt.name)
			}
		}
	})
}
