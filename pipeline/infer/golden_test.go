package infer

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/internal/golden"
	"github.com/quantprep/quantprep/internal/onnxtext"
	"github.com/quantprep/quantprep/pipeline/model"
)

// update is the -update flag (rewrite the want sections of testdata/*/*.txtar).
var update = golden.Update

// parseConfig reads a "config" section: one option per line.
func parseConfig(t *testing.T, body string) Config {
	var cfg Config
	for _, l := range strings.Split(body, "\n") {
		l = strings.TrimSpace(l)
		k, v, _ := strings.Cut(l, "=")
		switch k {
		case "":
		case "auto_merge":
			cfg.AutoMerge = true
		case "guess_output_rank":
			cfg.GuessOutputRank = true
		case "strict":
			cfg.Strict = true
		case "int_max":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatalf("config: %v", err)
			}
			cfg.IntMax = n
		default:
			t.Fatalf("config: unknown option %q", l)
		}
	}
	return cfg
}

// describe runs inference on the model text and prints every node output's
// recorded type (value_info or graph output), one per line in node order,
// then the warnings, each as "! text".
func describe(t *testing.T, src string, cfg Config) string {
	mp, err := onnxtext.ParseModel(src)
	if err != nil {
		t.Fatalf("parse model: %v", err)
	}
	m := &model.Model{Proto: mp}
	res, err := Run(context.Background(), m, cfg)
	if err != nil {
		return "error: " + err.Error() + "\n"
	}
	return describeGraph(m.Graph(), res)
}

func describeGraph(g *onnxpb.GraphProto, res *Result) string {
	known := map[string]*onnxpb.TypeProto{}
	for _, vi := range g.GetValueInfo() {
		known[vi.GetName()] = vi.GetType()
	}
	for _, vi := range g.GetOutput() {
		known[vi.GetName()] = vi.GetType()
	}
	var b strings.Builder
	for _, n := range g.GetNode() {
		for _, o := range n.GetOutput() {
			if o == "" {
				continue
			}
			tp, ok := known[o]
			if !ok || tp == nil {
				fmt.Fprintf(&b, "%s: -\n", o)
				continue
			}
			fmt.Fprintf(&b, "%s: %s\n", o, typeFromProto(tp))
		}
	}
	if res != nil {
		for _, w := range res.Warnings {
			fmt.Fprintf(&b, "! %s\n", w)
		}
	}
	return b.String()
}

// TestGolden runs each testdata/<family>/<case>.txtar: the model section in
// ONNX's text syntax is inferred in Symbolic mode and compared with "want",
// and in ONNX mode with "want onnx" when the file has that section.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*", "*.txtar"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no golden files")
	}
	for _, f := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.ToSlash(f), "testdata/"), ".txtar")
		t.Run(name, func(t *testing.T) {
			gf, err := golden.Read(f)
			if err != nil {
				t.Fatal(err)
			}
			src, _ := gf.Get("model")
			var cfg Config
			if body, ok := gf.Get("config"); ok {
				cfg = parseConfig(t, body)
			}
			if src == "" {
				t.Fatal("no model section")
			}
			for _, s := range gf.Sections {
				var c Config
				switch s.Name {
				case "want":
					c = cfg
					c.Mode = Symbolic
				case "want onnx":
					c = cfg
					c.Mode = ONNX
				default:
					continue
				}
				if err := gf.Check(s.Name, describe(t, src, c)); err != nil {
					t.Error(err)
				}
			}
			if err := gf.Save(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
