package infer

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/quantprep/quantprep/internal/golden"
	"github.com/quantprep/quantprep/internal/onnxtext"
	"github.com/quantprep/quantprep/pipeline/model"
)

// FuzzRun feeds models in ONNX's text syntax (the golden cases as seeds) to
// both modes: whatever the model, Run returns a result or an error and never
// panics.
func FuzzRun(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*", "*.txtar"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		if src, ok := golden.Parse(b).Get("model"); ok {
			f.Add(src)
		}
	}
	f.Fuzz(func(t *testing.T, src string) {
		for _, mode := range []Mode{Symbolic, ONNX} {
			mp, err := onnxtext.ParseModel(src)
			if err != nil || mp.GetGraph() == nil {
				return
			}
			_, _ = Run(context.Background(), &model.Model{Proto: mp}, Config{Mode: mode, AutoMerge: true, GuessOutputRank: true})
		}
	})
}
