package infer

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/internal/onnxtext"
	"github.com/quantprep/quantprep/pipeline/model"
)

var update = flag.Bool("update", false, "rewrite the want sections of testdata/*/*.txtar")

// section is one "-- name --" part of a txtar file.
type section struct {
	name string
	body string
}

// readTxtar splits a txtar archive: a comment, then "-- name --" sections.
func readTxtar(b []byte) (comment string, secs []section) {
	lines := strings.SplitAfter(string(b), "\n")
	cur := -1
	var sb strings.Builder
	flush := func() {
		if cur < 0 {
			comment = sb.String()
		} else {
			secs[cur].body = sb.String()
		}
		sb.Reset()
	}
	for _, l := range lines {
		t := strings.TrimRight(l, "\r\n")
		if strings.HasPrefix(t, "-- ") && strings.HasSuffix(t, " --") && len(t) >= 6 {
			flush()
			secs = append(secs, section{name: strings.TrimSpace(t[3 : len(t)-3])})
			cur = len(secs) - 1
			continue
		}
		sb.WriteString(l)
	}
	flush()
	return comment, secs
}

func writeTxtar(comment string, secs []section) []byte {
	var b bytes.Buffer
	b.WriteString(comment)
	for _, s := range secs {
		fmt.Fprintf(&b, "-- %s --\n", s.name)
		b.WriteString(s.body)
		if s.body != "" && !strings.HasSuffix(s.body, "\n") {
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

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
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			comment, secs := readTxtar(b)
			var src string
			var cfg Config
			for _, s := range secs {
				switch s.name {
				case "model":
					src = s.body
				case "config":
					cfg = parseConfig(t, s.body)
				}
			}
			if src == "" {
				t.Fatal("no model section")
			}
			changed := false
			for i, s := range secs {
				var c Config
				switch s.name {
				case "want":
					c = cfg
					c.Mode = Symbolic
				case "want onnx":
					c = cfg
					c.Mode = ONNX
				default:
					continue
				}
				got := describe(t, src, c)
				if got == s.body {
					continue
				}
				if *update {
					secs[i].body = got
					changed = true
					continue
				}
				t.Errorf("%s: got\n%s\nwant\n%s", s.name, got, s.body)
			}
			if changed {
				if err := os.WriteFile(f, writeTxtar(comment, secs), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
