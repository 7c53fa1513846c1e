package server

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	quantprepv1 "github.com/quantprep/quantprep/api/quantprep/v1"
	"github.com/quantprep/quantprep/client"
)

func sharedMsg(path, outDir string) *quantprepv1.PreprocessRequest {
	return &quantprepv1.PreprocessRequest{Payload: &quantprepv1.PreprocessRequest_SharedModel{
		SharedModel: &quantprepv1.SharedModel{Path: path, OutputDir: outDir}}}
}

// A shared request writes what an uploaded one streams back, byte for byte,
// and leaves nothing behind in the spool or the shared directory.
func TestSharedMatchesStreamed(t *testing.T) {
	shared := t.TempDir()
	env := startServer(t, Config{SharedDir: shared}, nil)
	tests := []struct {
		name      string
		locations []string
		opts      *quantprepv1.Options
		files     int
	}{
		{"inline", nil, skipAll(), 1},
		{"input external in two files and a subdir", []string{"w.bin", "data/b.bin"}, skipAll(), 1},
		{"output external one file in a subdir", nil, withOpts(func(o *quantprepv1.Options) {
			o.SaveAsExternalData, o.AllTensorsToOneFile, o.ExternalDataLocation = true, true, "data/weights.data"
		}), 2},
		{"external both ways, synced", []string{"in.data"}, withOpts(func(o *quantprepv1.Options) {
			o.SaveAsExternalData, o.AllTensorsToOneFile, o.Fsync = true, true, true
		}), 2},
		{"full pipeline", nil, &quantprepv1.Options{}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inDir, streamDir, sharedOut := t.TempDir(), t.TempDir(), t.TempDir()
			in := writeModel(t, testModel(600), inDir, "model.onnx", tt.locations...)
			before := readTree(t, inDir)
			if _, err := client.PreprocessFile(context.Background(), env.conn, in, filepath.Join(streamDir, "out.onnx"), tt.opts, nil); err != nil {
				t.Fatalf("streamed run: %v", err)
			}
			var events int
			sum, err := client.PreprocessShared(context.Background(), env.conn, shared, in, filepath.Join(sharedOut, "out.onnx"), tt.opts,
				func(*quantprepv1.Progress) { events++ })
			if err != nil {
				t.Fatalf("shared run: %v", err)
			}
			sameOutputs(t, "streamed", streamDir, "shared", sharedOut, tt.files)
			if events == 0 || len(sum.GetFiles()) != tt.files || sum.GetFiles()[0].GetName() != "out.onnx" {
				t.Errorf("progress events %d, summary files %v", events, sum.GetFiles())
			}
			after := readTree(t, inDir)
			for name, b := range before {
				if !bytes.Equal(b, after[name]) {
					t.Errorf("input %s changed", name)
				}
			}
			if left, _ := os.ReadDir(shared); len(left) != 0 {
				t.Errorf("shared directory not empty: %v", left)
			}
			env.assertNoSpool(t)
		})
	}
}

// The shared directory is the client's to write: every way a request could
// make the server read or write outside it, or trip it, is refused with a
// status naming the field, and nothing is left behind.
func TestSharedBadRequests(t *testing.T) {
	outside := t.TempDir() // what no request may read or write
	secret := writeModel(t, testModel(100), outside, "secret.onnx")
	inline, err := os.ReadFile(secret)
	if err != nil {
		t.Fatal(err)
	}
	setup := func(t *testing.T, shared string) {
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(os.MkdirAll(filepath.Join(shared, "r", "exists"), 0o755))
		must(os.WriteFile(filepath.Join(shared, "r", "m.onnx"), inline, 0o644))
		must(os.WriteFile(filepath.Join(shared, "r", "junk.onnx"), []byte("not a model"), 0o644))
		must(os.Symlink(secret, filepath.Join(shared, "r", "link.onnx")))
		must(os.Symlink(outside, filepath.Join(shared, "r", "outdir")))
		must(os.Symlink(outside, filepath.Join(shared, "escape")))
		extDir := filepath.Join(shared, "ext")
		must(os.Mkdir(extDir, 0o755))
		writeModel(t, testModel(100), extDir, "m.onnx", "w.bin")
		must(os.Remove(filepath.Join(extDir, "w.bin")))
		linkDir := filepath.Join(shared, "extlink")
		must(os.Mkdir(linkDir, 0o755))
		writeModel(t, testModel(100), linkDir, "m.onnx", "w.bin")
		must(os.Rename(filepath.Join(linkDir, "w.bin"), filepath.Join(outside, "w.bin")))
		must(os.Symlink(filepath.Join(outside, "w.bin"), filepath.Join(linkDir, "w.bin")))
	}
	tests := []struct {
		name     string
		noShared bool
		limit    int64
		reqs     []*quantprepv1.PreprocessRequest
		code     codes.Code
		msg      string
	}{
		{"server without a shared directory", true, 0, []*quantprepv1.PreprocessRequest{optsMsg(skipAll()), sharedMsg("r/m.onnx", "r/o")},
			codes.FailedPrecondition, "no shared directory"},
		{"path with ..", false, 0, []*quantprepv1.PreprocessRequest{optsMsg(skipAll()), sharedMsg("../secret.onnx", "r/o")},
			codes.InvalidArgument, "shared_model.path"},
		{"absolute path", false, 0, []*quantprepv1.PreprocessRequest{optsMsg(skipAll()), sharedMsg(secret, "r/o")},
			codes.InvalidArgument, "shared_model.path"},
		{"output_dir with ..", false, 0, []*quantprepv1.PreprocessRequest{optsMsg(skipAll()), sharedMsg("r/m.onnx", "../o")},
			codes.InvalidArgument, "shared_model.output_dir"},
		{"missing model", false, 0, []*quantprepv1.PreprocessRequest{optsMsg(skipAll()), sharedMsg("r/none.onnx", "r/o")},
			codes.InvalidArgument, "no such file in the shared directory"},
		{"model is a link out", false, 0, []*quantprepv1.PreprocessRequest{optsMsg(skipAll()), sharedMsg("r/link.onnx", "r/o")},
			codes.InvalidArgument, `shared_model.path "r/link.onnx"`},
		{"model under a directory link out", false, 0, []*quantprepv1.PreprocessRequest{optsMsg(skipAll()), sharedMsg("escape/secret.onnx", "r/o")},
			codes.InvalidArgument, `shared_model.path "escape/secret.onnx"`},
		{"model is a directory", false, 0, []*quantprepv1.PreprocessRequest{optsMsg(skipAll()), sharedMsg("r/exists", "r/o")},
			codes.InvalidArgument, "not a regular file"},
		{"output_dir exists", false, 0, []*quantprepv1.PreprocessRequest{optsMsg(skipAll()), sharedMsg("r/m.onnx", "r/exists")},
			codes.InvalidArgument, "already exists"},
		{"output_dir is a link out", false, 0, []*quantprepv1.PreprocessRequest{optsMsg(skipAll()), sharedMsg("r/m.onnx", "r/outdir")},
			codes.InvalidArgument, "shared_model.output_dir"},
		{"output_dir under a directory link out", false, 0, []*quantprepv1.PreprocessRequest{optsMsg(skipAll()), sharedMsg("r/m.onnx", "escape/o")},
			codes.InvalidArgument, "shared_model.output_dir"},
		{"output_dir's parent missing", false, 0, []*quantprepv1.PreprocessRequest{optsMsg(skipAll()), sharedMsg("r/m.onnx", "r/no/o")},
			codes.InvalidArgument, "shared_model.output_dir"},
		{"chunk after shared_model", false, 0, []*quantprepv1.PreprocessRequest{optsMsg(skipAll()), sharedMsg("r/m.onnx", "r/o"), modelMsg(inline)},
			codes.InvalidArgument, "model chunk after shared_model"},
		{"external chunk after shared_model", false, 0, []*quantprepv1.PreprocessRequest{optsMsg(skipAll()), sharedMsg("r/m.onnx", "r/o"), extMsg("w.bin", inline)},
			codes.InvalidArgument, "external data chunk after shared_model"},
		{"shared_model after a chunk", false, 0, []*quantprepv1.PreprocessRequest{optsMsg(skipAll()), modelMsg(inline), sharedMsg("r/m.onnx", "r/o")},
			codes.InvalidArgument, "shared_model must come right after the options"},
		{"two shared_models", false, 0, []*quantprepv1.PreprocessRequest{optsMsg(skipAll()), sharedMsg("r/m.onnx", "r/o"), sharedMsg("r/m.onnx", "r/p")},
			codes.InvalidArgument, "shared_model must come right after the options"},
		{"not a model", false, 0, []*quantprepv1.PreprocessRequest{optsMsg(skipAll()), sharedMsg("r/junk.onnx", "r/o")},
			codes.InvalidArgument, "not an ONNX model"},
		{"external data missing", false, 0, []*quantprepv1.PreprocessRequest{optsMsg(skipAll()), sharedMsg("ext/m.onnx", "ext/o")},
			codes.InvalidArgument, `external data file "ext/w.bin"`},
		{"external data is a link out", false, 0, []*quantprepv1.PreprocessRequest{optsMsg(skipAll()), sharedMsg("extlink/m.onnx", "extlink/o")},
			codes.InvalidArgument, `external data file "extlink/w.bin"`},
		{"name too long", false, 0, []*quantprepv1.PreprocessRequest{optsMsg(skipAll()), sharedMsg("r/"+strings.Repeat("m", 300), "r/o")},
			codes.InvalidArgument, "shared_model.path: a name of 300 bytes"},
		{"over the limit", false, 100, []*quantprepv1.PreprocessRequest{optsMsg(skipAll()), sharedMsg("r/m.onnx", "r/o")},
			codes.ResourceExhausted, "limit of 100 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			shared := t.TempDir()
			setup(t, shared)
			cfg := Config{SharedDir: shared, MaxUploadBytes: tt.limit}
			if tt.noShared {
				cfg.SharedDir = ""
			}
			wantShared, wantOutside := readTree(t, shared), readTree(t, outside)
			env := startServer(t, cfg, nil)
			err := call(context.Background(), env.conn, tt.reqs)
			st := status.Convert(err)
			if st.Code() != tt.code || !strings.Contains(st.Message(), tt.msg) {
				t.Errorf("got %v %q, want %v containing %q", st.Code(), st.Message(), tt.code, tt.msg)
			}
			if strings.Contains(st.Message(), shared) || strings.Contains(st.Message(), env.tmp) {
				t.Errorf("the message shows the server's paths: %q", st.Message())
			}
			env.assertNoSpool(t)
			sameTree(t, "shared directory", shared, wantShared)
			sameTree(t, "directory outside", outside, wantOutside)
		})
	}
}

// sameTree fails if the files under dir are not want, or a directory was added.
func sameTree(t *testing.T, what, dir string, want map[string][]byte) {
	t.Helper()
	got := readTree(t, dir)
	for name, b := range got {
		if w, ok := want[name]; !ok || !bytes.Equal(w, b) {
			t.Errorf("%s: %s was written", what, name)
		}
	}
	for name := range want {
		if _, ok := got[name]; !ok {
			t.Errorf("%s: %s was removed", what, name)
		}
	}
	for _, d := range []string{"r/o", "r/p", "ext/o", "extlink/o"} {
		if _, err := os.Lstat(filepath.Join(dir, d)); err == nil {
			t.Errorf("%s: %s was left behind", what, d)
		}
	}
}

// Where the model, the spool, the shared directory and the output are not on
// one file system, every link falls back to a copy, with the same result.
func TestSharedAcrossFileSystems(t *testing.T) {
	other, err := os.MkdirTemp("/dev/shm", "quantprep-test-")
	if err != nil {
		t.Skipf("no second file system to test on: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(other) })
	shared := t.TempDir()
	if sameDevice(t, other, shared) {
		t.Skip("/dev/shm is on the temp dir's file system")
	}
	spool := filepath.Join(other, "spool")
	env := startServer(t, Config{SharedDir: shared, TempDir: spool}, nil)
	inDir, streamDir, outDir := filepath.Join(other, "in"), t.TempDir(), filepath.Join(other, "out")
	for _, d := range []string{inDir, outDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	in := writeModel(t, testModel(600), inDir, "model.onnx", "w.bin")
	opts := skipAll()
	opts.SaveAsExternalData, opts.AllTensorsToOneFile = true, true
	if _, err := client.PreprocessFile(context.Background(), env.conn, in, filepath.Join(streamDir, "out.onnx"), opts, nil); err != nil {
		t.Fatalf("streamed run: %v", err)
	}
	if _, err := client.PreprocessShared(context.Background(), env.conn, shared, in, filepath.Join(outDir, "out.onnx"), opts, nil); err != nil {
		t.Fatalf("shared run: %v", err)
	}
	sameOutputs(t, "streamed", streamDir, "shared", outDir, 2)
	if left, _ := os.ReadDir(shared); len(left) != 0 {
		t.Errorf("shared directory not empty: %v", left)
	}
	env.assertNoSpool(t)
}

func sameDevice(t *testing.T, a, b string) bool {
	t.Helper()
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	da, ok1 := sa.Sys().(*syscall.Stat_t)
	db, ok2 := sb.Sys().(*syscall.Stat_t)
	return !ok1 || !ok2 || da.Dev == db.Dev
}

// The shared directory is created when missing (a sidecar starts before the
// application container whose subPath mount would create it), and a path that
// cannot be one is refused at start, naming it.
func TestSharedDirAtStart(t *testing.T) {
	base := t.TempDir()
	file := filepath.Join(base, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, dir string
		ok        bool
	}{
		{"existing", base, true},
		{"missing", filepath.Join(base, "work", "shared"), true},
		{"a file", file, false},
		{"under a file", filepath.Join(file, "shared"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := New(Config{TempDir: t.TempDir(), SharedDir: tt.dir}, nil, nil)
			if (err == nil) != tt.ok {
				t.Fatalf("New(SharedDir %s) = %v, want ok %v", tt.dir, err, tt.ok)
			}
			if err != nil {
				if !strings.Contains(err.Error(), "shared dir") {
					t.Errorf("error %q does not say it is the shared dir", err)
				}
				return
			}
			srv.Stop()
			if fi, err := os.Stat(tt.dir); err != nil || !fi.IsDir() {
				t.Errorf("shared dir %s not a directory after New: %v", tt.dir, err)
			}
		})
	}
}
