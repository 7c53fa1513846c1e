package optimize

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/internal/golden"
	"github.com/quantprep/quantprep/internal/onnxtext"
	"github.com/quantprep/quantprep/pipeline/model"
)

// TestGolden runs each pass or rule alone (with the required passes) on the
// `-- before --` model of every testdata/<name>/<case>.txtar and compares the
// graph with `-- after --`; a case whose after equals its before is one where
// the rewrite must not fire. It also checks, with the reference interpreter,
// that the outputs keep their values. With -update the after sections are
// rewritten from what the optimizer does (golden keeps the rest of the file).
func TestGolden(t *testing.T) {
	dirs, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, n := range Names() {
		known[n] = true
	}
	cases := 0
	for _, d := range dirs {
		if !d.IsDir() || d.Name() == "models" {
			continue
		}
		pass := d.Name()
		if !known[pass] {
			t.Errorf("testdata/%s names no pass or rule", pass)
			continue
		}
		files, _ := filepath.Glob(filepath.Join("testdata", pass, "*.txtar"))
		for _, file := range files {
			cases++
			t.Run(pass+"/"+strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
				runGolden(t, file, pass)
			})
		}
	}
	if cases == 0 {
		t.Fatal("no golden cases")
	}
}

func runGolden(t *testing.T, file, pass string) {
	gf, err := golden.Read(file)
	if err != nil {
		t.Fatal(err)
	}
	before, ok := gf.Get("before")
	if !ok {
		t.Fatalf("%s: no -- before -- section", file)
	}
	mp, err := onnxtext.ParseModel(before)
	if err != nil {
		t.Fatalf("parse before: %v", err)
	}
	orig := &model.Model{Proto: proto.Clone(mp).(*onnxpb.ModelProto)}
	m := &model.Model{Proto: mp}
	var disabled []string
	for _, n := range Names() {
		if n != pass && n != "ConstantToInitializer" {
			disabled = append(disabled, n)
		}
	}
	res, err := Run(context.Background(), m, Config{Disabled: disabled})
	if err != nil {
		t.Fatalf("optimize: %v", err)
	}
	// Rewrites are counted under the names Names lists, never under a name
	// a pass spells for itself.
	for name := range res.Rewrites {
		if !slices.Contains(Names(), name) {
			t.Errorf("rewrites counted under %q, which is no pass or rule", name)
		}
	}
	if err := gf.Check("after", onnxtext.PrintGraph(m.Graph())); err != nil {
		t.Error(err)
	}
	if err := gf.Save(); err != nil {
		t.Fatal(err)
	}
	sameOutputs(t, orig, m)
}
