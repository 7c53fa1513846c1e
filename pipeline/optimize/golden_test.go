package optimize

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/internal/onnxtext"
	"github.com/quantprep/quantprep/pipeline/model"
)

var update = flag.Bool("update", false, "rewrite the -- after -- sections of testdata/<pass>/*.txtar")

// TestGolden runs each pass or rule alone (with the required passes) on the
// `-- before --` model of every testdata/<name>/<case>.txtar and compares the
// graph with `-- after --`; a case whose after equals its before is one where
// the rewrite must not fire. It also checks, with the reference interpreter,
// that the outputs keep their values. With -update the after sections are
// rewritten from what the optimizer does.
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
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	sections := parseTxtar(string(raw))
	before, ok := sections["before"]
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
	got := onnxtext.PrintGraph(m.Graph())
	if *update {
		sections["after"] = got
		if err := os.WriteFile(file, []byte(formatTxtar(sections)), 0o644); err != nil {
			t.Fatal(err)
		}
	} else if want := sections["after"]; strings.TrimSpace(got) != strings.TrimSpace(want) {
		t.Errorf("graph after %s:\n%s\nwant:\n%s", pass, got, want)
	}
	sameOutputs(t, orig, m)
}

// sectionOrder is the order formatTxtar writes sections in.
var sectionOrder = []string{"comment", "before", "after"}

// parseTxtar splits a txtar archive into its comment (key "comment") and
// named files.
func parseTxtar(s string) map[string]string {
	out := map[string]string{}
	name := "comment"
	var b strings.Builder
	for _, line := range strings.SplitAfter(s, "\n") {
		trim := strings.TrimRight(line, "\n")
		if strings.HasPrefix(trim, "-- ") && strings.HasSuffix(trim, " --") && len(trim) > 6 {
			out[name] = b.String()
			b.Reset()
			name = strings.TrimSpace(trim[3 : len(trim)-3])
			continue
		}
		b.WriteString(line)
	}
	out[name] = b.String()
	return out
}

func formatTxtar(sections map[string]string) string {
	var b strings.Builder
	for _, k := range sectionOrder {
		v, ok := sections[k]
		if !ok {
			continue
		}
		if k != "comment" {
			b.WriteString("-- " + k + " --\n")
		}
		b.WriteString(strings.TrimRight(v, "\n") + "\n")
	}
	return b.String()
}
