package infer

import (
	"context"
	"path/filepath"
	"testing"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/model"
)

// TestModels runs Symbolic mode on whole exported models: every node output
// must get an element type and a full shape (each dim a value or a symbol),
// and the graph outputs must keep their declared shapes.
func TestModels(t *testing.T) {
	tests := []struct {
		file    string
		outputs map[string]string
	}{
		{"bert-tiny.onnx", map[string]string{
			"last_hidden_state": "float[batch,sequence,128]",
			"pooler_output":     "float[batch,128]",
		}},
		{"gpt2-tiny.onnx", map[string]string{"logits": "float[batch,sequence,1000]"}},
		{"cnn-tiny.onnx", map[string]string{"logits": "float[batch,10]"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			m, err := model.Load(filepath.Join("..", "..", "testdata", "models", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			res, err := Run(context.Background(), m, Config{Mode: Symbolic})
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range res.Warnings {
				t.Errorf("warning: %s", w)
			}
			g := m.Graph()
			types := map[string]*onnxpb.TypeProto{}
			for _, vi := range g.GetValueInfo() {
				types[vi.GetName()] = vi.GetType()
			}
			for _, vi := range g.GetOutput() {
				types[vi.GetName()] = vi.GetType()
			}
			n := 0
			for _, node := range g.GetNode() {
				for _, o := range node.GetOutput() {
					if o == "" {
						continue
					}
					n++
					if tp := types[o]; tp == nil || !typeFromProto(tp).full() {
						t.Errorf("node %q (%s): output %q has no full type: %v", node.GetName(), node.GetOpType(), o, tp)
					}
				}
			}
			if got := res.Counts["full_shape"]; got != int64(n) {
				t.Errorf("Counts[full_shape] = %d, want %d", got, n)
			}
			for name, want := range tt.outputs {
				if got := typeFromProto(types[name]).String(); got != want {
					t.Errorf("output %s: %s, want %s", name, got, want)
				}
			}
			// A second run (as the pipeline's ONNX step does) must agree
			// with the first, change nothing and warn about nothing; so must
			// a second symbolic run.
			before := describeGraph(g, nil)
			res2, err := Run(context.Background(), m, Config{Mode: ONNX})
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range res2.Warnings {
				t.Errorf("ONNX mode warning: %s", w)
			}
			if res2.Counts["conflicts"] != 0 {
				t.Errorf("ONNX mode: %d conflicts", res2.Counts["conflicts"])
			}
			if after := describeGraph(g, nil); after != before {
				t.Errorf("ONNX mode changed the types:\n%s\nwas\n%s", after, before)
			}
			res3, err := Run(context.Background(), m, Config{Mode: Symbolic})
			if err != nil {
				t.Fatal(err)
			}
			if len(res3.Warnings) > 0 || describeGraph(g, nil) != before {
				t.Errorf("a second symbolic run changed the types or warned: %v", res3.Warnings)
			}
		})
	}
}
