package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/quantprep/quantprep/internal/onnxtext"
)

// cliMemLimit is the address space of the CLI runs in TestHostileCLI.
const cliMemLimit = 3 << 30

// hostileText are tiny models in ONNX's text syntax that ask for gigabytes
// or for exponential work.
func hostileText() map[string]string {
	var dbl strings.Builder
	dbl.WriteString("<ir_version: 8, opset_import: [\"\" : 17]>\ng (float[1] x) => (float y) <float[1] c0 = {1}> {\n")
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&dbl, "  c%d = Concat <axis = 0> (c%d, c%d)\n", i, i-1, i-1)
	}
	dbl.WriteString("  y = Add (x, c40)\n}\n")
	var fn strings.Builder
	fn.WriteString("<ir_version: 8, opset_import: [\"\" : 17, \"local\" : 1]>\ng (float[4] x) => (float y) {\n  y = local.F40 (x)\n}\n")
	fn.WriteString("<domain: \"local\", opset_import: [\"\" : 17]>\nF0 (a) => (b) { b = Neg (a) }\n")
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&fn, "<domain: \"local\", opset_import: [\"\" : 17, \"local\" : 1]>\nF%d (a) => (b) { t = local.F%d (a) b = local.F%d (t) }\n", i, i-1, i-1)
	}
	return map[string]string{
		"doubling":  dbl.String(),
		"functions": fn.String(),
		"tile": `<ir_version: 8, opset_import: ["" : 17]>
g (float[1] x) => (float y) <float[2, 2] c = {1, 2, 3, 4}, int64[2] r = {65536, 65536}> {
  t = Tile (c, r)
  y = Add (x, t)
}`,
		"opset1000": `<ir_version: 8, opset_import: ["" : 1000]>
g (float[1] x) => (float y) { y = Neg (x) }`,
		"negative_dim": `<ir_version: 8, opset_import: ["" : 17]>
g (float[1] x) => (float y) <float[1] w = {1}> { y = Add (x, w) }`,
	}
}

// emptyNodesModel is 5 million empty nodes: 10 MB that used to take 1 GB
// and a minute.
func emptyNodesModel() []byte {
	var g []byte
	for range 5_000_000 {
		g = protowire.AppendTag(g, 1, protowire.BytesType)
		g = protowire.AppendVarint(g, 0)
	}
	b := protowire.AppendTag(nil, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, 8)
	op := protowire.AppendVarint(protowire.AppendTag(nil, 2, protowire.VarintType), 17)
	b = protowire.AppendBytes(protowire.AppendTag(b, 8, protowire.BytesType), op)
	return protowire.AppendBytes(protowire.AppendTag(b, 7, protowire.BytesType), g)
}

// TestHostileCLI runs `quantprep preprocess` on each hostile model in a child
// process under a 3 GiB address-space limit: it must exit 0 (a fold skipped
// with a warning) or 1 (a clear error), never with a Go fatal error, and
// leave no output or spill directory behind after an error.
func TestHostileCLI(t *testing.T) {
	if args := os.Getenv("QUANTPREP_HOSTILE_CLI"); args != "" {
		if err := syscall.Setrlimit(syscall.RLIMIT_AS, &syscall.Rlimit{Cur: cliMemLimit, Max: cliMemLimit}); err != nil {
			t.Fatalf("setrlimit: %v", err)
		}
		code := run(strings.Split(args, "\x1f"), os.Stdout, os.Stderr)
		os.Exit(code)
	}
	if runtime.GOOS != "linux" {
		t.Skip("the address-space limit needs Linux")
	}
	cases := []struct {
		name    string
		code    int
		mention string
	}{
		{"doubling", exitOK, "constant folding skipped"},
		{"tile", exitOK, `(Tile): over the constant-folding budget: tiled result of 17179869184 elements`},
		{"functions", exitFailure, `over budget: shape inference stopped`},
		{"opset1000", exitFailure, `domain "ai.onnx": version 1000`},
		{"negative_dim", exitFailure, `tensor "w": negative dim`},
		{"empty_nodes", exitFailure, "more than 2097152 nodes"},
	}
	texts := hostileText()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			in := filepath.Join(dir, "in.onnx")
			var b []byte
			if c.name == "empty_nodes" {
				b = emptyNodesModel()
			} else {
				mp, err := onnxtext.ParseModel(texts[c.name])
				if err != nil {
					t.Fatal(err)
				}
				if c.name == "negative_dim" {
					mp.Graph.Initializer[0].Dims = []int64{-1}
				}
				if b, err = proto.Marshal(mp); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(in, b, 0o644); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "out", "out.onnx")
			os.Mkdir(filepath.Dir(out), 0o755)
			cmd := exec.Command(os.Args[0], "-test.run=^TestHostileCLI$")
			cmd.Env = append(os.Environ(), "QUANTPREP_HOSTILE_CLI="+strings.Join([]string{"preprocess", "--input", in, "--output", out, "--verbose", "1"}, "\x1f"))
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			t0 := time.Now()
			err := cmd.Run()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			msg := stderr.String()
			if strings.Contains(msg, "fatal error") || strings.Contains(msg, "panic:") {
				t.Fatalf("the CLI crashed:\n%s", msg)
			}
			if code != c.code || !strings.Contains(msg, c.mention) {
				t.Fatalf("exit %d, stderr %q; want %d mentioning %q", code, msg, c.code, c.mention)
			}
			left, _ := os.ReadDir(filepath.Dir(out))
			if code != exitOK && len(left) > 0 {
				t.Errorf("left behind after an error: %v", left[0].Name())
			}
			for _, e := range left {
				if strings.HasPrefix(e.Name(), ".quantprep-spill") {
					t.Errorf("spill directory %s left behind", e.Name())
				}
			}
			t.Logf("%s: exit %d in %v (%s bytes)", c.name, code, time.Since(t0).Round(time.Millisecond), strconv.Itoa(len(b)))
		})
	}
}
