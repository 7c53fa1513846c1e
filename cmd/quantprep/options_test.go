package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/client"
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
		{"serve env negative", []string{"serve", "--listen", "127.0.0.1:0"}, map[string]string{"QUANTPREP_MAX_FOLD_BYTES": "-1"}, exitUsage, "invalid options: max_fold_bytes: must not be negative, got -1"},
		{"serve env not a size", []string{"serve", "--listen", "127.0.0.1:0"}, map[string]string{"QUANTPREP_MAX_FOLD_BYTES": "lots"}, exitUsage, "QUANTPREP_MAX_FOLD_BYTES"},
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

// flagValue is a valid value of op other than its default, as a flag
// argument, and the value the option then has.
func flagValue(t *testing.T, op *pipeline.Option) (string, any) {
	switch op.Kind {
	case pipeline.Bool:
		return "True", true
	case pipeline.Int:
		if op.Name == "verbose" {
			return "3", int64(3)
		}
		return "77", int64(77)
	case pipeline.Size:
		return "2Mi", int64(2 << 20)
	case pipeline.String:
		return "w.bin", "w.bin"
	case pipeline.List:
		return "EliminateIdentity,ConstantFolding", []string{"EliminateIdentity", "ConstantFolding"}
	}
	t.Fatalf("option %s: unknown kind", op.Name)
	return "", nil
}

// TestOptionFlags: every option of pipeline.Table is a preprocess flag of
// its name whose default is the option's, and each reaches the wire and
// comes back (as the server reads it) with the same value, default or not;
// serve has a flag for each budget.
func TestOptionFlags(t *testing.T) {
	parse := func(t *testing.T, args ...string) *preprocessFlags {
		var f preprocessFlags
		cmd := newPreprocessCmd(io.Discard, io.Discard, &f)
		if err := cmd.ParseFlags(normalizeBoolArgs(cmd, append([]string{"--input", "in.onnx", "--output", "out.onnx"}, args...))); err != nil {
			t.Fatal(err)
		}
		return &f
	}
	def := parse(t)
	if !reflect.DeepEqual(def.opts, pipeline.DefaultOptions()) {
		t.Errorf("flag defaults %+v, want %+v", def.opts, pipeline.DefaultOptions())
	}
	if got := server.PipelineOptions(def.options()); !reflect.DeepEqual(got, pipeline.DefaultOptions()) {
		t.Errorf("defaults through the wire %+v, want %+v", got, pipeline.DefaultOptions())
	}
	serve := newServeCmd(io.Discard).Flags()
	for i := range pipeline.Table {
		op := &pipeline.Table[i]
		t.Run(op.Name, func(t *testing.T) {
			arg, v := flagValue(t, op)
			args := []string{"--" + op.Name, arg}
			want := pipeline.DefaultOptions()
			if op.Name == "external_data_location" {
				args = append(args, "--save_as_external_data")
				want.SaveAsExternalData = true
			}
			reflect.ValueOf(op.Field(&want)).Elem().Set(reflect.ValueOf(v))
			f := parse(t, args...)
			if !reflect.DeepEqual(f.opts, want) {
				t.Errorf("--%s %s: options %+v, want %+v", op.Name, arg, f.opts, want)
			}
			if got := server.PipelineOptions(f.options()); !reflect.DeepEqual(got, want) {
				t.Errorf("--%s %s through the wire: %+v, want %+v", op.Name, arg, got, want)
			}
			if (serve.Lookup(op.Name) != nil) != (op.Ceiling > 0) {
				t.Errorf("serve has --%s: %v; a budget: %v", op.Name, serve.Lookup(op.Name) != nil, op.Ceiling > 0)
			}
		})
	}
}

// TestInvalidOptionsSameMessage: an invalid value gets the same message from
// the CLI (a usage error, nothing read) and from the server (the CLI's wire
// options sent as they are, INVALID_ARGUMENT).
func TestInvalidOptionsSameMessage(t *testing.T) {
	addr := startServe(t)
	conn := dial(t, addr)
	dir := t.TempDir()
	in := writeTestModel(t, dir, 8)
	out := filepath.Join(dir, "out.onnx")
	for _, args := range [][]string{
		{"--int_max", "0"},
		{"--verbose", "2"},
		{"--external_data_size_threshold", "-1"},
		{"--external_data_location", "w.bin"},
		{"--save_as_external_data", "--external_data_location", "../w.bin"},
		{"--disabled_optimizers", "EliminateIdentity,NoSuchPass"},
		{"--disabled_optimizers", "ConstantToInitializer"},
		{"--max_fold_bytes", "-1"},
		{"--max_nodes", "1000000000"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var f preprocessFlags
			cmd := newPreprocessCmd(io.Discard, io.Discard, &f)
			if err := cmd.ParseFlags(normalizeBoolArgs(cmd, append([]string{"--input", in, "--output", out}, args...))); err != nil {
				t.Fatal(err)
			}
			_, err := client.PreprocessFile(context.Background(), conn, in, out, f.options(), nil)
			st := status.Convert(err)
			if st.Code() != codes.InvalidArgument || !strings.HasPrefix(st.Message(), "invalid options: ") {
				t.Fatalf("server: %v, want INVALID_ARGUMENT", err)
			}
			var stdout, stderr bytes.Buffer
			code := run(append([]string{"preprocess", "--input", in, "--output", out}, args...), &stdout, &stderr)
			if code != exitUsage || !strings.Contains(stderr.String(), ": "+st.Message()+"\n") {
				t.Errorf("CLI: exit %d, %q; want a usage error saying the server's %q", code, stderr.String(), st.Message())
			}
		})
	}
}
