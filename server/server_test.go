package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"

	quantprepv1 "github.com/quantprep/quantprep/api/quantprep/v1"
	"github.com/quantprep/quantprep/client"
	"github.com/quantprep/quantprep/pipeline"
)

// testEnv is a server on an in-memory listener and a client connection to it.
type testEnv struct {
	srv  *Server
	conn *grpc.ClientConn
	tmp  string
	logs *observer.ObservedLogs
}

func startServer(t testing.TB, cfg Config, runner Runner) *testEnv {
	t.Helper()
	return startServerWith(t, cfg, runner, nil)
}

// startServerWith lets register add services before the server starts.
func startServerWith(t testing.TB, cfg Config, runner Runner, register func(*Server)) *testEnv {
	t.Helper()
	if cfg.TempDir == "" {
		cfg.TempDir = t.TempDir()
	}
	core, logs := observer.New(zapcore.InfoLevel)
	srv, err := New(cfg, zap.New(core), runner)
	if err != nil {
		t.Fatal(err)
	}
	if register != nil {
		register(srv)
	}
	lis := bufconn.Listen(1 << 20)
	go srv.Serve(lis)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		srv.Stop()
	})
	return &testEnv{srv: srv, conn: conn, tmp: cfg.TempDir, logs: logs}
}

// assertNoSpool fails unless the server's temp dir empties within a few seconds
// (a cancelled request's handler may still be unwinding when the client returns).
func (e *testEnv) assertNoSpool(t *testing.T) {
	t.Helper()
	var left []string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		entries, err := os.ReadDir(e.tmp)
		if err != nil {
			t.Fatal(err)
		}
		left = left[:0]
		for _, en := range entries {
			left = append(left, en.Name())
		}
		if len(left) == 0 {
			return
		}
	}
	t.Errorf("temp dir %s not empty: %v", e.tmp, left)
}

// skipAll is the option set that the pipeline can run today: tag and save.
func skipAll() *quantprepv1.Options {
	return &quantprepv1.Options{SkipOptimization: true, SkipOnnxShape: true, SkipSymbolicShape: true}
}

// withOpts is skipAll with f's changes.
func withOpts(f func(o *quantprepv1.Options)) *quantprepv1.Options {
	o := skipAll()
	f(o)
	return o
}

// readTree maps each regular file under dir (slash paths) to its bytes; it
// follows no link.
func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		files[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// sameOutputs checks that dir holds n files, byte for byte those of wantDir,
// and returns them.
func sameOutputs(t *testing.T, wantWhat, wantDir, what, dir string, n int) map[string][]byte {
	t.Helper()
	want, got := readTree(t, wantDir), readTree(t, dir)
	if len(want) != n || len(got) != n {
		t.Errorf("files: %s %d, %s %d, want %d", wantWhat, len(want), what, len(got), n)
	}
	for name, b := range want {
		if !bytes.Equal(b, got[name]) {
			t.Errorf("%s: %s output differs from the %s one (%d vs %d bytes)", name, what, wantWhat, len(got[name]), len(b))
		}
	}
	return got
}

func TestRemoteMatchesInProcess(t *testing.T) {
	env := startServer(t, Config{ChunkSize: 1000}, nil) // small chunks: several per file
	tests := []struct {
		name      string
		locations []string // input external data files; none for an inline model
		opts      *quantprepv1.Options
		files     int // output files, the model included
	}{
		{"inline", nil, skipAll(), 1},
		{"input external", []string{"model.onnx.data"}, skipAll(), 1},
		{"input external in two files and a subdir", []string{"w.bin", "data/b.bin"}, skipAll(), 1},
		{"output external", nil, withOpts(func(o *quantprepv1.Options) { o.SaveAsExternalData = true }), 3},
		{"output external one file in a subdir", nil, withOpts(func(o *quantprepv1.Options) {
			o.SaveAsExternalData, o.AllTensorsToOneFile, o.ExternalDataLocation = true, true, "data/weights.data"
		}), 2},
		{"output external over the threshold", nil, withOpts(func(o *quantprepv1.Options) {
			o.SaveAsExternalData, o.ExternalDataSizeThreshold = true, proto.Int64(4096)
		}), 1},
		{"external both ways", []string{"in.data"}, withOpts(func(o *quantprepv1.Options) {
			o.SaveAsExternalData, o.AllTensorsToOneFile = true, true
		}), 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inDir, localDir, remoteDir := t.TempDir(), t.TempDir(), t.TempDir()
			in := writeModel(t, testModel(600), inDir, "model.onnx", tt.locations...)

			var localEvents []string
			rep, err := pipeline.Run(context.Background(), in, filepath.Join(localDir, "out.onnx"), PipelineOptions(tt.opts),
				func(e pipeline.Event) { localEvents = append(localEvents, e.Step+" "+e.Phase.String()) })
			if err != nil {
				t.Fatalf("in-process run: %v", err)
			}

			var remoteEvents []string
			sum, err := client.PreprocessFile(context.Background(), env.conn, in, filepath.Join(remoteDir, "out.onnx"), tt.opts,
				func(p *quantprepv1.Progress) {
					remoteEvents = append(remoteEvents, p.GetStep()+" "+strings.ToLower(strings.TrimPrefix(p.GetPhase().String(), "PHASE_")))
				})
			if err != nil {
				t.Fatalf("remote run: %v", err)
			}

			remote := sameOutputs(t, "in-process", localDir, "remote", remoteDir, tt.files)
			if strings.Join(localEvents, ",") != strings.Join(remoteEvents, ",") {
				t.Errorf("progress: remote %v, in-process %v", remoteEvents, localEvents)
			}
			if len(sum.GetFiles()) != len(rep.Files) || sum.GetFiles()[0].GetName() != "out.onnx" {
				t.Errorf("summary files %v, report files %v", sum.GetFiles(), rep.Files)
			}
			for _, f := range sum.GetFiles() {
				if int64(len(remote[f.GetName()])) != f.GetSize() {
					t.Errorf("summary says %s has %d bytes, got %d", f.GetName(), f.GetSize(), len(remote[f.GetName()]))
				}
			}
			if sum.GetNodesAfter() != int64(rep.NodesAfter) || len(sum.GetSteps()) != len(rep.Steps) {
				t.Errorf("summary %v does not match report %+v", sum, rep)
			}
			env.assertNoSpool(t)
		})
	}
}

// call sends reqs on a raw stream, then reads to the end; it returns the
// stream's final error (nil after a summary).
func call(ctx context.Context, conn grpc.ClientConnInterface, reqs []*quantprepv1.PreprocessRequest) error {
	stream, err := quantprepv1.NewPreprocessServiceClient(conn).Preprocess(ctx)
	if err != nil {
		return err
	}
	for _, r := range reqs {
		if err := stream.Send(r); err != nil {
			break // the server has answered; Recv says how
		}
	}
	stream.CloseSend()
	for {
		resp, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		_ = resp
	}
}

func optsMsg(o *quantprepv1.Options) *quantprepv1.PreprocessRequest {
	return &quantprepv1.PreprocessRequest{Payload: &quantprepv1.PreprocessRequest_Options{Options: o}}
}

func modelMsg(b []byte) *quantprepv1.PreprocessRequest {
	return &quantprepv1.PreprocessRequest{Payload: &quantprepv1.PreprocessRequest_ModelChunk{ModelChunk: &quantprepv1.Chunk{Data: b}}}
}

func extMsg(loc string, b []byte) *quantprepv1.PreprocessRequest {
	return &quantprepv1.PreprocessRequest{Payload: &quantprepv1.PreprocessRequest_ExternalDataChunk{
		ExternalDataChunk: &quantprepv1.ExternalDataChunk{Location: loc, Data: b}}}
}

func TestBadRequests(t *testing.T) {
	dir := t.TempDir()
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	inline := read(writeModel(t, testModel(600), dir, "inline.onnx"))
	extDir := filepath.Join(dir, "ext")
	os.Mkdir(extDir, 0o755)
	ext := read(writeModel(t, testModel(600), extDir, "m.onnx", "a.bin", "b.bin"))
	aBin, bBin := read(filepath.Join(extDir, "a.bin")), read(filepath.Join(extDir, "b.bin"))
	named := func(name string) *quantprepv1.Options {
		o := skipAll()
		o.ModelName = name
		return o
	}

	tests := []struct {
		name  string
		limit int64
		reqs  []*quantprepv1.PreprocessRequest
		code  codes.Code
		msg   string
	}{
		{"not an ONNX model", 0, []*quantprepv1.PreprocessRequest{optsMsg(skipAll()), modelMsg([]byte("hello, I am not a model"))},
			codes.InvalidArgument, "not an ONNX model"},
		{"truncated upload", 0, []*quantprepv1.PreprocessRequest{optsMsg(skipAll()), modelMsg(inline[:len(inline)/2])},
			codes.InvalidArgument, "not an ONNX model"},
		{"no model", 0, []*quantprepv1.PreprocessRequest{optsMsg(skipAll())}, codes.InvalidArgument, "no model uploaded"},
		{"empty stream", 0, nil, codes.InvalidArgument, "first message must be options"},
		{"no options first", 0, []*quantprepv1.PreprocessRequest{modelMsg(inline), optsMsg(skipAll())},
			codes.InvalidArgument, "first message must be options"},
		{"options after data", 0, []*quantprepv1.PreprocessRequest{optsMsg(skipAll()), modelMsg(inline), optsMsg(skipAll())},
			codes.InvalidArgument, "options may only be the first message"},
		{"empty message", 0, []*quantprepv1.PreprocessRequest{optsMsg(skipAll()), {}}, codes.InvalidArgument, "payload"},
		{"bad verbose", 0, []*quantprepv1.PreprocessRequest{optsMsg(&quantprepv1.Options{Verbose: 2}), modelMsg(inline)},
			codes.InvalidArgument, "verbose"},
		{"bad int_max", 0, []*quantprepv1.PreprocessRequest{optsMsg(&quantprepv1.Options{IntMax: proto.Int64(0)}), modelMsg(inline)},
			codes.InvalidArgument, "int_max"},
		{"negative threshold", 0, []*quantprepv1.PreprocessRequest{optsMsg(&quantprepv1.Options{ExternalDataSizeThreshold: proto.Int64(-1)}), modelMsg(inline)},
			codes.InvalidArgument, "external_data_size_threshold"},
		{"model name with a directory", 0, []*quantprepv1.PreprocessRequest{optsMsg(named("../m.onnx")), modelMsg(inline)},
			codes.InvalidArgument, "model_name"},
		{"output location with ..", 0, []*quantprepv1.PreprocessRequest{optsMsg(&quantprepv1.Options{SaveAsExternalData: true, ExternalDataLocation: "../x"}), modelMsg(inline)},
			codes.InvalidArgument, "external_data_location"},
		{"unknown external file", 0, []*quantprepv1.PreprocessRequest{optsMsg(skipAll()), modelMsg(inline), extMsg("extra.bin", []byte{1, 2})},
			codes.InvalidArgument, "not referenced by the model"},
		{"external location with ..", 0, []*quantprepv1.PreprocessRequest{optsMsg(named("m.onnx")), modelMsg(ext), extMsg("../a.bin", aBin)},
			codes.InvalidArgument, "external_data_chunk.location"},
		{"absolute external location", 0, []*quantprepv1.PreprocessRequest{optsMsg(named("m.onnx")), modelMsg(ext), extMsg("/etc/passwd", aBin)},
			codes.InvalidArgument, "absolute"},
		{"external data before the model", 0, []*quantprepv1.PreprocessRequest{optsMsg(named("m.onnx")), extMsg("a.bin", aBin), modelMsg(ext)},
			codes.InvalidArgument, "before the model"},
		{"model after external data", 0, []*quantprepv1.PreprocessRequest{optsMsg(named("m.onnx")), modelMsg(ext), extMsg("a.bin", aBin), modelMsg(ext)},
			codes.InvalidArgument, "model must come first"},
		{"external file again after another", 0, []*quantprepv1.PreprocessRequest{optsMsg(named("m.onnx")), modelMsg(ext),
			extMsg("a.bin", aBin[:8]), extMsg("b.bin", bBin), extMsg("a.bin", aBin[8:])},
			codes.InvalidArgument, "sent again"},
		{"external file missing", 0, []*quantprepv1.PreprocessRequest{optsMsg(named("m.onnx")), modelMsg(ext), extMsg("a.bin", aBin)},
			codes.InvalidArgument, `"b.bin", which was not uploaded`},
		{"external files not sent", 0, []*quantprepv1.PreprocessRequest{optsMsg(named("m.onnx")), modelMsg(ext)},
			codes.InvalidArgument, "a.bin"},
		{"over the limit", 1000, []*quantprepv1.PreprocessRequest{optsMsg(skipAll()), modelMsg(inline[:600]), modelMsg(inline[600:])},
			codes.ResourceExhausted, "limit of 1000 bytes"},
		{"external data over the limit", int64(len(ext) + len(aBin) + 10), []*quantprepv1.PreprocessRequest{optsMsg(named("m.onnx")), modelMsg(ext),
			extMsg("a.bin", aBin), extMsg("b.bin", bBin)},
			codes.ResourceExhausted, "limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := startServer(t, Config{MaxUploadBytes: tt.limit}, nil)
			err := call(context.Background(), env.conn, tt.reqs)
			st := status.Convert(err)
			if st.Code() != tt.code || !strings.Contains(st.Message(), tt.msg) {
				t.Errorf("got %v %q, want %v containing %q", st.Code(), st.Message(), tt.code, tt.msg)
			}
			env.assertNoSpool(t)
		})
	}
}

// blockingRunner runs the pipeline only once released; it reports each start.
type blockingRunner struct {
	started chan struct{}
	release chan struct{}
	ctxErr  chan error
}

func newBlockingRunner() *blockingRunner {
	return &blockingRunner{started: make(chan struct{}, 8), release: make(chan struct{}), ctxErr: make(chan error, 8)}
}

func (b *blockingRunner) Run(ctx context.Context, in, out string, o pipeline.Options, progress func(pipeline.Event)) (*pipeline.Report, error) {
	b.started <- struct{}{}
	select {
	case <-b.release:
		return pipeline.Run(ctx, in, out, o, progress)
	case <-ctx.Done():
		b.ctxErr <- ctx.Err()
		return nil, ctx.Err()
	}
}

// preprocessAsync runs client.PreprocessFile in the background.
func preprocessAsync(ctx context.Context, conn grpc.ClientConnInterface, in, out string) chan error {
	ch := make(chan error, 1)
	go func() {
		_, err := client.PreprocessFile(ctx, conn, in, out, skipAll(), nil)
		ch <- err
	}()
	return ch
}

func TestQueueFull(t *testing.T) {
	r := newBlockingRunner()
	env := startServer(t, Config{Workers: 1, QueueSize: 1}, r)
	dir := t.TempDir()
	in := writeModel(t, testModel(16), dir, "m.onnx")
	ctx := context.Background()

	first := preprocessAsync(ctx, env.conn, in, filepath.Join(dir, "1.onnx"))
	<-r.started
	second := preprocessAsync(ctx, env.conn, in, filepath.Join(dir, "2.onnx"))
	for deadline := time.Now().Add(5 * time.Second); env.srv.pool.queued() != 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the second request was never queued")
		}
	}
	_, err := client.PreprocessFile(ctx, env.conn, in, filepath.Join(dir, "3.onnx"), skipAll(), nil)
	if status.Code(err) != codes.ResourceExhausted {
		t.Errorf("third request: got %v, want ResourceExhausted", err)
	}
	if _, serr := os.Stat(filepath.Join(dir, "3.onnx")); !os.IsNotExist(serr) {
		t.Errorf("a refused request left an output: %v", serr)
	}
	close(r.release)
	for i, ch := range []chan error{first, second} {
		if err := <-ch; err != nil {
			t.Errorf("request %d: %v", i+1, err)
		}
	}
	env.assertNoSpool(t)
}

func TestStreamLimit(t *testing.T) {
	env := startServer(t, Config{MaxStreams: 1}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	open, err := quantprepv1.NewPreprocessServiceClient(env.conn).Preprocess(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := open.Send(optsMsg(skipAll())); err != nil {
		t.Fatal(err)
	}
	// The server has the first stream once its spool directory exists.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if entries, _ := os.ReadDir(env.tmp); len(entries) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first stream never reached the handler")
		}
	}
	err = call(ctx, env.conn, []*quantprepv1.PreprocessRequest{optsMsg(skipAll())})
	if status.Code(err) != codes.ResourceExhausted {
		t.Errorf("second stream: got %v, want ResourceExhausted", err)
	}
	// Health stays reachable while the service is full.
	if _, err := healthpb.NewHealthClient(env.conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Errorf("health check while full: %v", err)
	}
	cancel()
	env.assertNoSpool(t)
}

func TestCancel(t *testing.T) {
	tests := []struct {
		name string
		// wait returns once the request is far enough along to cancel.
		wait func(t *testing.T, env *testEnv, r *blockingRunner)
	}{
		{"mid-upload", func(t *testing.T, env *testEnv, _ *blockingRunner) {
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
				if entries, _ := os.ReadDir(env.tmp); len(entries) > 0 {
					return
				}
				if time.Now().After(deadline) {
					t.Fatal("the upload never started")
				}
			}
		}},
		{"while running", func(t *testing.T, _ *testEnv, r *blockingRunner) { <-r.started }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newBlockingRunner()
			env := startServer(t, Config{}, r)
			dir := t.TempDir()
			inline, err := os.ReadFile(writeModel(t, testModel(16), dir, "m.onnx"))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			stream, err := quantprepv1.NewPreprocessServiceClient(env.conn).Preprocess(ctx)
			if err != nil {
				t.Fatal(err)
			}
			stream.Send(optsMsg(skipAll()))
			stream.Send(modelMsg(inline[:10]))
			if tt.name == "while running" {
				stream.Send(modelMsg(inline[10:]))
				stream.CloseSend()
			}
			tt.wait(t, env, r)
			cancel()
			if _, err := stream.Recv(); status.Code(err) != codes.Canceled {
				t.Errorf("got %v, want Canceled", err)
			}
			env.assertNoSpool(t)
			if tt.name == "while running" {
				if err := <-r.ctxErr; !errors.Is(err, context.Canceled) {
					t.Errorf("the runner saw %v, want context.Canceled", err)
				}
			}
		})
	}
}

func TestPanickingRunner(t *testing.T) {
	var calls atomic.Int32
	runner := RunnerFunc(func(ctx context.Context, in, out string, o pipeline.Options, p func(pipeline.Event)) (*pipeline.Report, error) {
		if calls.Add(1) == 1 {
			var m map[string]int
			m["boom"]++ // a real nil-map panic, as a buggy step would cause
		}
		return pipeline.Run(ctx, in, out, o, p)
	})
	env := startServer(t, Config{}, runner)
	dir := t.TempDir()
	in := writeModel(t, testModel(16), dir, "m.onnx")
	_, err := client.PreprocessFile(context.Background(), env.conn, in, filepath.Join(dir, "out1.onnx"), skipAll(), nil)
	if status.Code(err) != codes.Internal {
		t.Fatalf("got %v, want Internal", err)
	}
	if strings.Contains(err.Error(), "goroutine") {
		t.Errorf("the stack reached the client: %v", err)
	}
	env.assertNoSpool(t)
	logged := env.logs.FilterMessage("pipeline worker panicked").All()
	if len(logged) != 1 || !strings.Contains(string(logged[0].ContextMap()["stack"].(string)), "TestPanickingRunner") {
		t.Errorf("panic not logged with its stack: %v", logged)
	}
	// The server keeps serving.
	if _, err := client.PreprocessFile(context.Background(), env.conn, in, filepath.Join(dir, "out2.onnx"), skipAll(), nil); err != nil {
		t.Errorf("request after the panic: %v", err)
	}
}

func TestHealthAndReflection(t *testing.T) {
	env := startServer(t, Config{}, nil)
	ctx := context.Background()
	for _, svc := range []string{"", quantprepv1.PreprocessService_ServiceDesc.ServiceName} {
		resp, err := healthpb.NewHealthClient(env.conn).Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health %q: %v %v, want SERVING", svc, resp, err)
		}
	}
	rs, err := reflectionpb.NewServerReflectionClient(env.conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := rs.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := rs.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	if !strings.Contains(strings.Join(names, " "), "quantprep.v1.PreprocessService") {
		t.Errorf("reflection lists %v", names)
	}
	rs.CloseSend()
}

func TestHandlerPanicRecovered(t *testing.T) {
	// A service of the test's own whose handler panics stands in for a bug in
	// the handler goroutine, which the recovery interceptor must catch.
	env := startServerWith(t, Config{}, nil, func(s *Server) {
		s.GRPC().RegisterService(&grpc.ServiceDesc{
			ServiceName: "test.Panics",
			HandlerType: (*any)(nil),
			Streams: []grpc.StreamDesc{{StreamName: "Boom", ServerStreams: true, ClientStreams: true,
				Handler: func(any, grpc.ServerStream) error { panic("handler bug") }}},
		}, struct{}{})
	})
	stream, err := env.conn.NewStream(context.Background(), &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, "/test.Panics/Boom")
	if err != nil {
		t.Fatal(err)
	}
	stream.CloseSend()
	if err := stream.RecvMsg(&healthpb.HealthCheckResponse{}); status.Code(err) != codes.Internal || strings.Contains(err.Error(), "handler bug") {
		t.Errorf("got %v, want Internal without the panic's text", err)
	}
	logged := env.logs.FilterMessage("handler panicked").All()
	if len(logged) != 1 || !strings.Contains(logged[0].ContextMap()["stack"].(string), "TestHandlerPanicRecovered") {
		t.Errorf("panic not logged with its stack: %v", logged)
	}
	if _, err := healthpb.NewHealthClient(env.conn).Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Errorf("server stopped serving after a handler panic: %v", err)
	}
}

func TestCancelWhileQueued(t *testing.T) {
	r := newBlockingRunner()
	env := startServer(t, Config{Workers: 1, QueueSize: 2}, r)
	dir := t.TempDir()
	in := writeModel(t, testModel(16), dir, "m.onnx")

	first := preprocessAsync(context.Background(), env.conn, in, filepath.Join(dir, "1.onnx"))
	<-r.started
	ctx, cancel := context.WithCancel(context.Background())
	second := preprocessAsync(ctx, env.conn, in, filepath.Join(dir, "2.onnx"))
	for deadline := time.Now().Add(5 * time.Second); env.srv.pool.queued() != 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the second request was never queued")
		}
	}
	cancel()
	if err := <-second; status.Code(err) != codes.Canceled {
		t.Errorf("queued request: got %v, want Canceled", err)
	}
	// The abandoned request's spool goes at once, while the first still runs.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if entries, _ := os.ReadDir(env.tmp); len(entries) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the queued request's spool directory was not removed")
		}
	}
	close(r.release)
	if err := <-first; err != nil {
		t.Errorf("first request: %v", err)
	}
	env.assertNoSpool(t)
	if n := len(r.started); n != 0 {
		t.Errorf("the abandoned job ran (%d more starts)", n)
	}
}

func TestClientLibraryCancel(t *testing.T) {
	r := newBlockingRunner()
	env := startServer(t, Config{}, r)
	dir := t.TempDir()
	in := writeModel(t, testModel(16), dir, "m.onnx")
	ctx, cancel := context.WithCancel(context.Background())
	done := preprocessAsync(ctx, env.conn, in, filepath.Join(dir, "out.onnx"))
	<-r.started
	cancel()
	if err := <-done; status.Code(err) != codes.Canceled {
		t.Errorf("got %v, want Canceled", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("the output dir holds %d entries, want only the input", len(entries))
	}
	env.assertNoSpool(t)
}
