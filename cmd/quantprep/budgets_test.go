package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline"
	"github.com/quantprep/quantprep/server"
)

// TestBudgetFlags: each budget flag reaches the pipeline's options, sizes in
// serve's size syntax, 0 as the default.
func TestBudgetFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want pipeline.Budgets
	}{
		{"defaults", nil, pipeline.Budgets{}},
		{"every budget", []string{"--max_fold_bytes", "64Mi", "--max_fold_total_bytes", "1GiB", "--max_node_visits", "1000",
			"--max_nodes", "500", "--max_dense_bytes", "1048576"},
			pipeline.Budgets{MaxFoldBytes: 64 << 20, MaxFoldTotalBytes: 1 << 30, MaxNodeVisits: 1000, MaxNodes: 500, MaxDenseBytes: 1 << 20}},
		{"SI sizes and zero", []string{"--max_fold_bytes=1MB", "--max_dense_bytes", "0"}, pipeline.Budgets{MaxFoldBytes: 1000000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f preprocessFlags
			cmd := newPreprocessCmd(io.Discard, io.Discard, &f)
			if err := cmd.ParseFlags(append([]string{"--input", "in.onnx", "--output", "out.onnx"}, tt.args...)); err != nil {
				t.Fatal(err)
			}
			if got := server.PipelineOptions(f.options()).Budgets; got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// writeTwoNodeModel is writeTestModel's model with a second node, so that
// --max_nodes 1 is over budget.
func writeTwoNodeModel(t *testing.T, dir string) string {
	t.Helper()
	p := writeTestModel(t, dir, 8)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var mp onnxpb.ModelProto
	if err := proto.Unmarshal(b, &mp); err != nil {
		t.Fatal(err)
	}
	mp.Graph.Node = append(mp.Graph.Node, &onnxpb.NodeProto{Name: proto.String("id"), OpType: proto.String("Identity"), Input: []string{"y"}, Output: []string{"z"}})
	if b, err = proto.Marshal(&mp); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBudgetsRun: the budgets act in process and through --server; a
// request over the server's limit is refused naming the flag; negative or
// out-of-range values are usage errors, on preprocess and serve alike.
func TestBudgetsRun(t *testing.T) {
	addr := startServe(t)
	dir := t.TempDir()
	in := writeTwoNodeModel(t, dir)
	out := filepath.Join(dir, "out.onnx")
	skip := []string{"--skip_optimization", "--skip_onnx_shape", "--skip_symbolic_shape"}
	pre := func(extra ...string) []string {
		return append(append([]string{"preprocess", "--input", in, "--output", out}, skip...), extra...)
	}
	tests := []struct {
		name   string
		args   []string
		env    map[string]string
		code   int
		stderr string
	}{
		{"in process, within budget", pre("--max_nodes", "2"), nil, exitOK, ""},
		{"in process, over budget", pre("--max_nodes", "1"), nil, exitFailure, "budget of 1"},
		{"remote, within budget", pre("--max_nodes", "2", "--server", addr), nil, exitOK, ""},
		{"remote, over budget", pre("--max_nodes", "1", "--server", addr), nil, exitFailure, "budget of 1"},
		{"remote, over the server's limit", pre("--max_fold_bytes", "1Gi", "--server", addr), nil, exitFailure, "max_fold_bytes"},
		{"negative size", pre("--max_fold_bytes", "-1"), nil, exitUsage, "max_fold_bytes"},
		{"not a size", pre("--max_dense_bytes", "lots"), nil, exitUsage, "max_dense_bytes"},
		{"negative count", pre("--max_node_visits", "-5"), nil, exitUsage, "max_node_visits"},
		{"negative count remote", pre("--max_nodes", "-1", "--server", addr), nil, exitUsage, "max_nodes"},
		{"nodes over the loader's bound", pre("--max_nodes", "1000000000"), nil, exitUsage, "max_nodes"},
		{"serve negative", []string{"serve", "--listen", "127.0.0.1:0", "--max_node_visits", "-1"}, nil, exitUsage, "max_node_visits"},
		{"serve env negative", []string{"serve", "--listen", "127.0.0.1:0"}, map[string]string{"QUANTPREP_MAX_FOLD_BYTES": "-1"}, exitUsage, "QUANTPREP_MAX_FOLD_BYTES"},
		{"serve nodes over the loader's bound", []string{"serve", "--listen", "127.0.0.1:0", "--max_nodes", "1000000000"}, nil, exitUsage, "max_nodes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var stdout, stderr bytes.Buffer
			code := run(tt.args, &stdout, &stderr)
			if code != tt.code || !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("exit %d, stderr %q; want %d containing %q", code, stderr.String(), tt.code, tt.stderr)
			}
		})
	}
}

func TestServeBudgetEnv(t *testing.T) {
	t.Setenv("QUANTPREP_MAX_FOLD_BYTES", "8Mi")
	t.Setenv("QUANTPREP_MAX_NODES", "100")
	cmd := newServeCmd(io.Discard)
	if err := cmd.ParseFlags([]string{"--max_nodes", "50", "--max_dense_bytes", "1Mi"}); err != nil {
		t.Fatal(err)
	}
	if err := applyEnv(cmd.Flags()); err != nil {
		t.Fatal(err)
	}
	for flag, want := range map[string]string{"max_fold_bytes": "8388608", "max_nodes": "50", "max_dense_bytes": "1048576", "max_node_visits": "0"} {
		if got := cmd.Flags().Lookup(flag).Value.String(); got != want {
			t.Errorf("--%s = %s, want %s", flag, got, want)
		}
	}
}
