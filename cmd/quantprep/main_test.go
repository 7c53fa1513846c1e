package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"io/fs"
	"math"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	quantprepv1 "github.com/quantprep/quantprep/api/quantprep/v1"
	"github.com/quantprep/quantprep/internal/onnxtext"
	"github.com/quantprep/quantprep/pipeline"
	"github.com/quantprep/quantprep/server"
)

// writeTestModel writes y = x + w, with w a raw-data initializer of n floats.
func writeTestModel(t *testing.T, dir string, n int) string {
	t.Helper()
	raw := make([]byte, 4*n)
	for i := range n {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(float32(i)/3))
	}
	f32 := proto.Int32(int32(onnxpb.TensorProto_FLOAT))
	vi := func(name string) *onnxpb.ValueInfoProto {
		return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: f32, Shape: &onnxpb.TensorShapeProto{Dim: []*onnxpb.TensorShapeProto_Dimension{
				{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "batch"}},
				{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(n)}}}}}}}}
	}
	mp := &onnxpb.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)}},
		Graph: &onnxpb.GraphProto{
			Name:        proto.String("g"),
			Node:        []*onnxpb.NodeProto{{Name: proto.String("add"), OpType: proto.String("Add"), Input: []string{"x", "w"}, Output: []string{"y"}}},
			Initializer: []*onnxpb.TensorProto{{Name: proto.String("w"), Dims: []int64{int64(n)}, DataType: f32, RawData: raw}},
			Input:       []*onnxpb.ValueInfoProto{vi("x")},
			Output:      []*onnxpb.ValueInfoProto{vi("y")},
		},
	}
	b, err := proto.Marshal(mp)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "model.onnx")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFlagForms(t *testing.T) {
	def := func(f func(o *quantprepv1.Options)) *quantprepv1.Options {
		// The defaults on the wire (TestOptionFlags checks each against
		// pipeline.Table), then what the flags change.
		o := server.WireOptions(pipeline.DefaultOptions())
		o.ModelName, o.OutputName = "in.onnx", "out.onnx"
		if f != nil {
			f(o)
		}
		return o
	}
	tests := []struct {
		name string
		args []string
		want *quantprepv1.Options
	}{
		{"defaults", nil, def(nil)},
		{"bare flags", []string{"--skip_optimization", "--skip_onnx_shape", "--skip_symbolic_shape"}, def(func(o *quantprepv1.Options) {
			o.SkipOptimization, o.SkipOnnxShape, o.SkipSymbolicShape = true, true, true
		})},
		{"reference form True", []string{"--skip_optimization", "True", "--skip_onnx_shape", "true", "--skip_symbolic_shape", "1"}, def(func(o *quantprepv1.Options) {
			o.SkipOptimization, o.SkipOnnxShape, o.SkipSymbolicShape = true, true, true
		})},
		{"reference form False", []string{"--skip_optimization", "False", "--skip_onnx_shape", "false", "--skip_symbolic_shape", "0"}, def(nil)},
		{"equals form", []string{"--skip_optimization=True", "--skip_onnx_shape=false", "--auto_merge=1"}, def(func(o *quantprepv1.Options) {
			o.SkipOptimization, o.AutoMerge = true, true
		})},
		{"bool flag before another flag", []string{"--guess_output_rank", "--verbose", "3"}, def(func(o *quantprepv1.Options) {
			o.GuessOutputRank, o.Verbose = true, 3
		})},
		{"every flag", []string{"--auto_merge", "--int_max", "100", "--guess_output_rank", "--verbose", "1",
			"--save_as_external_data", "True", "--all_tensors_to_one_file", "--external_data_location", "w.bin",
			"--external_data_size_threshold", "0"}, def(func(o *quantprepv1.Options) {
			o.AutoMerge, o.IntMax, o.GuessOutputRank, o.Verbose = true, proto.Int64(100), true, 1
			o.SaveAsExternalData, o.AllTensorsToOneFile, o.ExternalDataLocation = true, true, "w.bin"
			o.ExternalDataSizeThreshold = proto.Int64(0)
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f preprocessFlags
			cmd := newPreprocessCmd(io.Discard, io.Discard, &f)
			args := append([]string{"--input", "dir/in.onnx", "--output", "out.onnx"}, tt.args...)
			if err := cmd.ParseFlags(normalizeBoolArgs(cmd, args)); err != nil {
				t.Fatal(err)
			}
			if rest := cmd.Flags().Args(); len(rest) > 0 {
				t.Fatalf("left over arguments %q", rest)
			}
			if got := f.options(); !proto.Equal(got, tt.want) {
				t.Errorf("got %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	in := writeTestModel(t, dir, 8)
	notModel := filepath.Join(dir, "junk.onnx")
	os.WriteFile(notModel, []byte("this is not a model"), 0o644)
	out := filepath.Join(dir, "out.onnx")
	skip := []string{"--skip_optimization", "--skip_onnx_shape", "--skip_symbolic_shape"}
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no command", nil, exitUsage, "no command"},
		{"unknown command", []string{"frobnicate"}, exitUsage, "unknown command"},
		{"unknown flag", []string{"preprocess", "--bogus"}, exitUsage, "bogus"},
		{"missing output", []string{"preprocess", "--input", in}, exitUsage, "--output"},
		{"bad verbose", []string{"preprocess", "--input", in, "--output", out, "--verbose", "2"}, exitUsage, "verbose"},
		{"bad int", []string{"preprocess", "--input", in, "--output", out, "--int_max", "lots"}, exitUsage, "int_max"},
		{"stray argument", []string{"preprocess", "--input", in, "--output", out, "extra"}, exitUsage, "extra"},
		{"location without external data", []string{"preprocess", "--input", in, "--output", out, "--external_data_location", "w"}, exitUsage, "external_data_location"},
		{"missing input", append([]string{"preprocess", "--input", filepath.Join(dir, "nope.onnx"), "--output", out}, skip...), exitFailure, "nope.onnx"},
		{"not a model", append([]string{"preprocess", "--input", notModel, "--output", out}, skip...), exitFailure, "not an ONNX model"},
		{"ok", append([]string{"preprocess", "--input", in, "--output", out}, skip...), exitOK, ""},
		{"version", []string{"version"}, exitOK, ""},
		{"bad env", []string{"serve", "--listen", "127.0.0.1:0"}, exitUsage, "QUANTPREP_WORKERS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "bad env" {
				t.Setenv("QUANTPREP_WORKERS", "many")
			}
			var stdout, stderr bytes.Buffer
			code := run(tt.args, &stdout, &stderr)
			if code != tt.code || !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("exit %d, stderr %q; want %d containing %q", code, stderr.String(), tt.code, tt.stderr)
			}
			if tt.name == "version" && !strings.HasPrefix(stdout.String(), "quantprep ") {
				t.Errorf("version printed %q", stdout.String())
			}
		})
	}
}

// readTree maps each file under dir to its bytes.
func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		files[filepath.ToSlash(rel)] = b
		return err
	})
	return files
}

func TestOutputEqualsPipeline(t *testing.T) {
	addr, shared := startServeShared(t)
	skip := []string{"--skip_optimization", "True", "--skip_onnx_shape", "True", "--skip_symbolic_shape", "True"}
	tests := []struct {
		name  string
		extra []string
	}{
		{"inline in process", nil},
		{"inline remote", []string{"--server", addr}},
		{"external data in process", []string{"--save_as_external_data", "--external_data_size_threshold", "16"}},
		{"external data remote", []string{"--save_as_external_data", "--external_data_size_threshold", "16", "--server", addr}},
		{"inline through a shared directory", []string{"--server", addr, "--shared_dir", shared}},
		{"external data through a shared directory", []string{"--save_as_external_data", "--external_data_size_threshold", "16", "--server", addr, "--shared_dir", shared}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := writeTestModel(t, t.TempDir(), 64)
			refDir, cliDir := t.TempDir(), t.TempDir()
			var f preprocessFlags
			cmd := newPreprocessCmd(io.Discard, io.Discard, &f)
			args := append(append([]string{"--input", in, "--output", filepath.Join(refDir, "out.onnx")}, skip...), tt.extra...)
			if err := cmd.ParseFlags(normalizeBoolArgs(cmd, args)); err != nil {
				t.Fatal(err)
			}
			rep, err := pipeline.Run(context.Background(), in, filepath.Join(refDir, "out.onnx"), server.PipelineOptions(f.options()), nil)
			if err != nil {
				t.Fatal(err)
			}

			var stdout, stderr bytes.Buffer
			args = append(append([]string{"preprocess", "--input", in, "--output", filepath.Join(cliDir, "out.onnx"), "--json"}, skip...), tt.extra...)
			if code := run(args, &stdout, &stderr); code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			if stderr.Len() > 0 {
				t.Errorf("stderr is not a terminal, yet got %q", stderr.String())
			}
			want, got := readTree(t, refDir), readTree(t, cliDir)
			if len(got) != len(want) || len(want) != len(rep.Files) {
				t.Errorf("files: cli %d, pipeline %d", len(got), len(want))
			}
			for name, b := range want {
				if !bytes.Equal(b, got[name]) {
					t.Errorf("%s differs from pipeline.Run's output", name)
				}
			}
			var sum quantprepv1.Summary
			if err := protojson.Unmarshal(stdout.Bytes(), &sum); err != nil {
				t.Fatalf("--json output: %v\n%s", err, stdout.String())
			}
			if sum.GetNodesAfter() != 1 || len(sum.GetFiles()) != len(rep.Files) || sum.GetFiles()[0].GetName() != "out.onnx" {
				t.Errorf("summary %v", &sum)
			}
		})
	}
}

// dial connects to a test server at addr without TLS; the connection closes
// when the test ends.
func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// startServe runs serve on a loopback port for the test's duration and checks
// that it stops cleanly when its context ends.
func startServe(t *testing.T) string {
	t.Helper()
	addr, _ := startServeShared(t)
	return addr
}

// startServeShared is startServe with a shared directory (serve --shared_dir),
// which it returns; it must be empty again when the test ends.
func startServeShared(t *testing.T) (string, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	tmp, shared := t.TempDir(), t.TempDir()
	go func() {
		done <- serve(ctx, "127.0.0.1:0", server.Config{TempDir: tmp, SharedDir: shared, Workers: 1}, 5*time.Second, zap.NewNop(), func(a net.Addr) { ready <- a })
	}()
	var addr string
	select {
	case a := <-ready:
		addr = a.String()
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve returned %v after shutdown", err)
		}
		if entries, _ := os.ReadDir(tmp); len(entries) > 0 {
			t.Errorf("serve left %d entries in its temp dir", len(entries))
		}
		if entries, _ := os.ReadDir(shared); len(entries) > 0 {
			t.Errorf("%d entries left in the shared dir", len(entries))
		}
	})
	conn := dial(t, addr)
	resp, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v %v", resp, err)
	}
	return addr, shared
}

func TestServeEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		workers int
		upload  int64
	}{
		{"defaults", nil, nil, 0, server.DefaultMaxUploadBytes},
		{"env", map[string]string{"QUANTPREP_WORKERS": "3", "QUANTPREP_MAX_UPLOAD_BYTES": "2GiB"}, nil, 3, 2 << 30},
		{"flag wins", map[string]string{"QUANTPREP_WORKERS": "3"}, []string{"--workers", "5", "--max_upload_bytes", "512Ki"}, 5, 512 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			cmd := newServeCmd(io.Discard)
			if err := cmd.ParseFlags(tt.args); err != nil {
				t.Fatal(err)
			}
			if err := applyEnv(cmd.Flags()); err != nil {
				t.Fatal(err)
			}
			w, _ := cmd.Flags().GetInt("workers")
			up := cmd.Flags().Lookup("max_upload_bytes").Value.String()
			if w != tt.workers || up != (*byteSize)(&tt.upload).String() {
				t.Errorf("workers %d, max_upload_bytes %s; want %d, %d", w, up, tt.workers, tt.upload)
			}
		})
	}
}

// TestShapeConflict checks the two answers to a model whose recorded shape
// disagrees with its operator: a warning naming the tensor (on stderr from
// --verbose 1 on, even when stderr is not a terminal), or with --strict_shapes
// a failed run that writes nothing.
func TestShapeConflict(t *testing.T) {
	src := `<ir_version: 8, opset_import: ["" : 17]>
g (float[batch, 4] x) => (float[batch, 4] y) <float[batch, 7] h> {
  h = Relu (x)
  y = Identity (h)
}`
	mp, err := onnxtext.ParseModel(src)
	if err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(mp)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "conflict.onnx")
	if err := os.WriteFile(in, b, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		flags    []string
		code     int
		stderr   string
		wantFile bool
	}{
		{"quiet by default", nil, exitOK, "", true},
		{"warning from verbose 1", []string{"--verbose", "1"}, exitOK, `warning: tensor "h"`, true},
		// Verbose 3 adds the details: each node output's inferred type, and
		// the optimizer's time per pass.
		{"inferred types from verbose 3", []string{"--verbose", "3"}, exitOK, "\nsymbolic_shape: node ", true},
		{"pass times from verbose 3", []string{"--verbose", "3"}, exitOK, "\noptimize: pass times: ", true},
		{"strict fails", []string{"--strict_shapes"}, exitFailure, `tensor "h"`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.onnx")
			var stdout, stderr bytes.Buffer
			code := run(append([]string{"preprocess", "--input", in, "--output", out}, tt.flags...), &stdout, &stderr)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, tt.code, stderr.String())
			}
			if tt.stderr == "" && stderr.Len() != 0 {
				t.Errorf("stderr %q, want nothing", stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("stderr %q, want it to contain %q", stderr.String(), tt.stderr)
			}
			if _, err := os.Stat(out); (err == nil) != tt.wantFile {
				t.Errorf("output written: %v, want %v", err == nil, tt.wantFile)
			}
		})
	}
}
