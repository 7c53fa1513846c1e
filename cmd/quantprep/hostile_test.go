package main

// The command's half of the hostile suite: command lines that used to do
// harm, internal failures, a server whose workers never stop, and a server
// killed with SIGKILL and started again.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	quantprepv1 "github.com/quantprep/quantprep/api/quantprep/v1"
	"github.com/quantprep/quantprep/client"
	"github.com/quantprep/quantprep/pipeline"
	"github.com/quantprep/quantprep/server"
)

var skipSteps = []string{"--skip_optimization", "--skip_onnx_shape", "--skip_symbolic_shape"}

// TestOutputIsInput: --output naming the input (by its path or through a
// link) is a usage error, and the input is left as it was.
func TestOutputIsInput(t *testing.T) {
	dir := t.TempDir()
	in := writeTestModel(t, dir, 8)
	before, _ := os.ReadFile(in)
	link := filepath.Join(dir, "link.onnx")
	if err := os.Link(in, link); err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{in, filepath.Join(dir, ".", "model.onnx"), link} {
		var stdout, stderr bytes.Buffer
		code := run(append([]string{"preprocess", "--input", in, "--output", out}, skipSteps...), &stdout, &stderr)
		if code != exitUsage || !strings.Contains(stderr.String(), "--input") {
			t.Errorf("--output %s: exit %d, stderr %q; want %d naming --input", out, code, stderr.String(), exitUsage)
		}
	}
	if after, _ := os.ReadFile(in); !bytes.Equal(before, after) {
		t.Errorf("the input changed")
	}
}

// TestNegativeServeFlags: negative sizes used to be replaced by defaults
// silently; they are usage errors, reported before the server starts.
func TestNegativeServeFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--workers", "-5"}, {"--queue_size", "-1"}, {"--max_streams", "-3"},
		{"--max_streams_per_conn", "-1"}, {"--max_streams_per_peer", "-2"},
		{"--idle_timeout", "-1s"}, {"--send_timeout", "-5s"}, {"--shutdown_timeout", "-1s"},
		{"--request_disk_quota", "-1"}, {"--memory_budget", "0"},
	} {
		var stdout, stderr bytes.Buffer
		done := make(chan int, 1)
		go func() {
			done <- run(append([]string{"serve", "--listen", "127.0.0.1:0", "--temp_dir", t.TempDir()}, args...), &stdout, &stderr)
		}()
		select {
		case code := <-done:
			if code != exitUsage || !strings.Contains(stderr.String(), strings.TrimPrefix(args[0], "--")) {
				t.Errorf("%v: exit %d, stderr %q; want %d naming the flag", args, code, stderr.String(), exitUsage)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%v: the server started", args)
		}
	}
}

// TestSpillLeftoverWarning: a spill directory left by a killed run is named
// in a warning (and left alone: another run may own it).
func TestSpillLeftoverWarning(t *testing.T) {
	dir := t.TempDir()
	in := writeTestModel(t, dir, 8)
	outDir := t.TempDir()
	left := filepath.Join(outDir, ".quantprep-spill-1234")
	if err := os.Mkdir(left, 0o700); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := run(append([]string{"preprocess", "--input", in, "--output", filepath.Join(outDir, "out.onnx")}, skipSteps...), &stdout, &stderr)
	if code != exitOK || !strings.Contains(stderr.String(), "warning: "+left) {
		t.Errorf("exit %d, stderr %q; want %d and a warning naming %s", code, stderr.String(), exitOK, left)
	}
	if _, err := os.Stat(left); err != nil {
		t.Errorf("the leftover was removed: %v", err)
	}
}

// serveRunner serves runner on loopback TCP and returns the address.
func serveRunner(t *testing.T, cfg server.Config, runner server.Runner) (*server.Server, string, chan error) {
	t.Helper()
	srv, err := server.New(cfg, zap.NewNop(), runner)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	return srv, lis.Addr().String(), errc
}

// TestInternalExitCode: a server's INTERNAL (a recovered panic) exits 3,
// distinct from a usage error (2) and from the input's failure (1).
func TestInternalExitCode(t *testing.T) {
	srv, addr, _ := serveRunner(t, server.Config{TempDir: t.TempDir()}, server.RunnerFunc(
		func(context.Context, string, string, pipeline.Options, func(pipeline.Event)) (*pipeline.Report, error) {
			var m map[string]int
			m["bug"]++
			return nil, nil
		}))
	defer srv.Stop()
	dir := t.TempDir()
	in := writeTestModel(t, dir, 8)
	var stdout, stderr bytes.Buffer
	code := run(append([]string{"preprocess", "--server", addr, "--input", in, "--output", filepath.Join(dir, "o.onnx")}, skipSteps...), &stdout, &stderr)
	if code != exitInternal || !strings.Contains(stderr.String(), "Internal") {
		t.Errorf("exit %d, stderr %q; want %d", code, stderr.String(), exitInternal)
	}
}

// TestShutdownBounded: a worker that ignores its cancellation no longer
// keeps the process alive: serve returns after the shutdown timeout plus a
// second, and the stuck request's files are removed.
func TestShutdownBounded(t *testing.T) {
	stuck, started := make(chan struct{}), make(chan struct{})
	defer close(stuck)
	tmp := t.TempDir()
	srv, addr, errc := serveRunner(t, server.Config{TempDir: tmp}, server.RunnerFunc(
		func(context.Context, string, string, pipeline.Options, func(pipeline.Event)) (*pipeline.Report, error) {
			close(started)
			<-stuck // deaf to its context
			return nil, errors.New("released")
		}))
	conn := dial(t, addr)
	dir := t.TempDir()
	in := writeTestModel(t, dir, 8)
	go client.PreprocessFile(context.Background(), conn, in, filepath.Join(dir, "o.onnx"), &quantprepv1.Options{}, nil)
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	err := stopWithin(srv, ctx, time.Second, errc, zap.NewNop())
	if d := time.Since(t0); d > 3*time.Second {
		t.Errorf("serve took %v to stop", d)
	}
	if !isInternal(err) {
		t.Errorf("got %v, want an internal error", err)
	}
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		t.Errorf("the stuck request's files stayed: %v", entries)
	}
}

// TestKilledServerRestart builds the binary, kills a server mid-upload with
// SIGKILL, and checks that the next server on the same temp dir removes the
// dead one's spool, serves an honest request, and stops cleanly on SIGTERM
// with the temp dir empty.
func TestKilledServerRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "quantprep")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	tmp := t.TempDir()
	start := func() (*exec.Cmd, string) {
		cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--temp_dir", tmp, "--idle_timeout", "1m")
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		addrc := make(chan string, 1)
		go func() {
			sc := bufio.NewScanner(stderr)
			for sc.Scan() {
				var line struct{ Msg, Addr string }
				if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "serving" {
					addrc <- line.Addr
				}
			}
		}()
		select {
		case a := <-addrc:
			return cmd, a
		case <-time.After(20 * time.Second):
			t.Fatal("the server did not start")
		}
		return nil, ""
	}
	spool := func() []string {
		m, _ := filepath.Glob(filepath.Join(tmp, "req-*"))
		return m
	}

	first, addr := start()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := quantprepv1.NewPreprocessServiceClient(dial(t, addr)).Preprocess(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stream.Send(&quantprepv1.PreprocessRequest{Payload: &quantprepv1.PreprocessRequest_Options{Options: &quantprepv1.Options{}}})
	stream.Send(&quantprepv1.PreprocessRequest{Payload: &quantprepv1.PreprocessRequest_ModelChunk{ModelChunk: &quantprepv1.Chunk{Data: []byte("half a model")}}})
	for deadline := time.Now().Add(10 * time.Second); len(spool()) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the upload never reached the spool")
		}
	}
	first.Process.Signal(syscall.SIGKILL)
	first.Wait()
	if len(spool()) == 0 {
		t.Fatal("SIGKILL left no spool behind: the test proves nothing")
	}

	second, addr := start()
	if left := spool(); len(left) != 0 {
		t.Errorf("the restarted server left the dead one's spool: %v", left)
	}
	dir := t.TempDir()
	in := writeTestModel(t, dir, 8)
	octx, ocancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer ocancel()
	if _, err := client.PreprocessFile(octx, dial(t, addr), in, filepath.Join(dir, "o.onnx"), &quantprepv1.Options{}, nil); err != nil {
		t.Errorf("an honest request after the restart: %v", err)
	}
	second.Process.Signal(syscall.SIGTERM)
	if err := second.Wait(); err != nil {
		t.Errorf("serve after SIGTERM: %v", err)
	}
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		t.Errorf("the temp dir is not empty after the server stopped: %v", entries)
	}
}

// TestInterruptRemovesSpill: a pipeline that does not stop after SIGINT or
// SIGTERM (here, one deaf to its context) no longer keeps its spill files:
// after the grace period the command removes what this run made, leaves an
// older leftover alone, and returns.
func TestInterruptRemovesSpill(t *testing.T) {
	outDir := t.TempDir()
	old := filepath.Join(outDir, ".quantprep-spill-old")
	os.Mkdir(old, 0o700)
	ours := filepath.Join(outDir, ".quantprep-spill-ours")
	release := make(chan struct{})
	defer close(release)
	defer func(r func(context.Context, string, string, *quantprepv1.Options, *progress) (*quantprepv1.Summary, error), g time.Duration) {
		runLocal, stopGrace = r, g
	}(runLocal, stopGrace)
	stopGrace = 200 * time.Millisecond
	running := make(chan struct{})
	runLocal = func(context.Context, string, string, *quantprepv1.Options, *progress) (*quantprepv1.Summary, error) {
		os.Mkdir(ours, 0o700)
		os.WriteFile(filepath.Join(outDir, ".out.onnx.tmp123"), []byte("half"), 0o600)
		close(running)
		<-release
		return nil, errors.New("released")
	}
	ctx, cancel := context.WithCancel(context.Background())
	var stderr bytes.Buffer
	errc := make(chan error, 1)
	go func() {
		_, err := preprocessLocalGuarded(ctx, "in.onnx", filepath.Join(outDir, "out.onnx"), &quantprepv1.Options{}, newProgress(&stderr, 0), &stderr)
		errc <- err
	}()
	<-running
	cancel() // what SIGINT and SIGTERM do
	select {
	case err := <-errc:
		if err == nil || !strings.Contains(err.Error(), "interrupted") {
			t.Errorf("got %v, want an interrupted error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the command did not return after the grace period")
	}
	entries, _ := os.ReadDir(outDir)
	if len(entries) != 1 || entries[0].Name() != ".quantprep-spill-old" {
		t.Errorf("left in the output directory: %v, want only the older leftover", entries)
	}
}
