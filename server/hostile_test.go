package server

// The hostile suite: clients and models built to hurt the server. Each test
// checks that the server survives, that the request's slot and files are
// released, and that an honest request succeeds afterwards.

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	quantprepv1 "github.com/quantprep/quantprep/api/quantprep/v1"
	"github.com/quantprep/quantprep/client"
	"github.com/quantprep/quantprep/internal/onnxtext"
)

// honest runs an ordinary request on conn and fails the test unless it succeeds.
func honest(t *testing.T, conn grpc.ClientConnInterface) {
	t.Helper()
	dir := t.TempDir()
	in := writeModel(t, testModel(64), dir, "honest.onnx")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := client.PreprocessFile(ctx, conn, in, filepath.Join(dir, "out.onnx"), skipAll(), nil); err != nil {
		t.Errorf("an honest request after the hostile ones: %v", err)
	}
}

// noServerPath fails if err's message names the server's temp dir.
func noServerPath(t *testing.T, err error, tmp string) {
	t.Helper()
	if msg := status.Convert(err).Message(); strings.Contains(msg, tmp) || strings.Contains(msg, "req-") {
		t.Errorf("the message carries a server path: %q", msg)
	}
}

// startTCP serves cfg on a loopback TCP port; dial opens client connections to it.
func startTCP(t *testing.T, cfg Config, runner Runner) (env *testEnv, dial func(opts ...grpc.DialOption) *grpc.ClientConn) {
	t.Helper()
	if cfg.TempDir == "" {
		cfg.TempDir = t.TempDir()
	}
	srv, err := New(cfg, zap.NewNop(), runner)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	dial = func(opts ...grpc.DialOption) *grpc.ClientConn {
		conn, err := grpc.NewClient(lis.Addr().String(), append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	return &testEnv{srv: srv, tmp: cfg.TempDir}, dial
}

// TestHostileSilentStreams: streams that send only their options, all on one
// connection, used to hold every slot forever. Now the connection's cap turns
// the excess away at once and the idle timeout ends the rest.
func TestHostileSilentStreams(t *testing.T) {
	env := startServer(t, Config{Workers: 2, QueueSize: 16, Limits: Limits{IdleTimeout: 300 * time.Millisecond}}, nil)
	const n = 36
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	codesSeen := make(chan codes.Code, n)
	start := time.Now()
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream, err := quantprepv1.NewPreprocessServiceClient(env.conn).Preprocess(ctx)
			if err != nil {
				codesSeen <- status.Code(err)
				return
			}
			stream.Send(optsMsg(skipAll()))
			_, err = stream.Recv() // never CloseSend: the stream stays silent
			codesSeen <- status.Code(err)
		}()
	}
	wg.Wait()
	close(codesSeen)
	count := map[codes.Code]int{}
	for c := range codesSeen {
		count[c]++
	}
	if count[codes.ResourceExhausted] != 18 || count[codes.DeadlineExceeded] != 18 {
		t.Errorf("got %v, want 18 ResourceExhausted (per-connection cap) and 18 DeadlineExceeded (idle)", count)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the silent streams held their slots %v", d)
	}
	env.assertNoSpool(t)
	honest(t, env.conn)
	env.assertNoSpool(t)
}

// TestHostilePeerCaps: one client address may not open more than its share,
// whatever number of connections it spreads the streams over.
func TestHostilePeerCaps(t *testing.T) {
	env, dial := startTCP(t, Config{Limits: Limits{MaxStreamsPerConn: 1, MaxStreamsPerPeer: 2}}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// open holds a stream open on conn after its options; it returns the
	// stream's answer, if it got one at once.
	open := func(conn *grpc.ClientConn) error {
		stream, err := quantprepv1.NewPreprocessServiceClient(conn).Preprocess(ctx)
		if err != nil {
			return err
		}
		stream.Send(optsMsg(skipAll()))
		errc := make(chan error, 1)
		go func() { _, err := stream.Recv(); errc <- err }()
		select {
		case err := <-errc:
			return err
		case <-time.After(300 * time.Millisecond):
			return nil
		}
	}
	a, b, c := dial(), dial(), dial()
	if err := open(a); err != nil {
		t.Fatalf("first stream: %v", err)
	}
	if err := open(a); status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "connection") {
		t.Errorf("second stream on one connection: got %v, want ResourceExhausted naming the connection", err)
	}
	if err := open(b); err != nil {
		t.Fatalf("stream on a second connection: %v", err)
	}
	if err := open(c); status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "client address") {
		t.Errorf("third stream from one address: got %v, want ResourceExhausted naming the address", err)
	}
	cancel()
	env.assertNoSpool(t)
	honest(t, dial())
}

// TestHostileNonReader: a client that uploads, then never reads its answer,
// is cut off after the send timeout; its slot and files are released.
func TestHostileNonReader(t *testing.T) {
	env, dial := startTCP(t, Config{MaxStreams: 1, Limits: Limits{SendTimeout: 300 * time.Millisecond}}, nil)
	dir := t.TempDir()
	big, err := os.ReadFile(writeModel(t, testModel(1<<19), dir, "big.onnx")) // 4 MiB of weights
	if err != nil {
		t.Fatal(err)
	}
	// Small windows: the client's transport buffers no more than 64 KiB unread.
	lazy := dial(grpc.WithInitialWindowSize(1<<16), grpc.WithInitialConnWindowSize(1<<16))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := quantprepv1.NewPreprocessServiceClient(lazy).Preprocess(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stream.Send(optsMsg(skipAll()))
	for off := 0; off < len(big); off += 1 << 20 {
		stream.Send(modelMsg(big[off:min(off+1<<20, len(big))]))
	}
	stream.CloseSend()
	// Never Recv. The server must give up on its own.
	env.assertNoSpool(t)
	honest(t, dial()) // MaxStreams is 1: the slot is free again
}

// TestHostileNoParseOnRequestGoroutine: external data makes the old handler
// parse the model on the request's goroutine; now the upload is only spooled,
// and the model is read on a worker.
func TestHostileNoParseOnRequestGoroutine(t *testing.T) {
	r := newBlockingRunner()
	env := startServer(t, Config{Workers: 1, QueueSize: 2}, r)
	dir := t.TempDir()
	in := writeModel(t, testModel(16), dir, "m.onnx")
	first := preprocessAsync(context.Background(), env.conn, in, filepath.Join(dir, "1.onnx"))
	<-r.started // the only worker is busy
	second := make(chan error, 1)
	go func() {
		second <- call(context.Background(), env.conn, []*quantprepv1.PreprocessRequest{
			optsMsg(&quantprepv1.Options{ModelName: "m.onnx"}), modelMsg([]byte("\x0a\xff\xff\xff\xff\x0fnot a model")), extMsg("a.bin", []byte{1, 2, 3})})
	}()
	for deadline := time.Now().Add(5 * time.Second); env.srv.pool.queued() != 1; time.Sleep(5 * time.Millisecond) {
		select {
		case err := <-second:
			t.Fatalf("the upload was judged before a worker read it: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the upload was never queued")
		}
	}
	close(r.release)
	if err := <-second; status.Code(err) != codes.InvalidArgument {
		t.Errorf("a broken model with external data: got %v, want InvalidArgument", err)
	}
	if err := <-first; err != nil {
		t.Errorf("first request: %v", err)
	}
	env.assertNoSpool(t)
	honest(t, env.conn)
}

// foldBomb is a 164-byte model whose folded constant is 16 MiB: the
// optimizer computes it and spills it to disk, and saving writes it.
func foldBomb(t *testing.T) []byte {
	t.Helper()
	mp, err := onnxtext.ParseModel(`<ir_version: 8, opset_import: ["" : 17]>
g (float[4194304] x) => (float[4194304] y) {
  s = Constant <value = int64[1] {4194304}> ()
  c = ConstantOfShape <value = float[1] {1.0}> (s)
  y = Add (x, c)
}`)
	if err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(mp)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestHostileDisk: spool, spill and output bytes count against the
// request's quota and the server's budget.
func TestHostileDisk(t *testing.T) {
	dir := t.TempDir()
	inline, err := os.ReadFile(writeModel(t, testModel(4096), dir, "m.onnx")) // 32 KiB of weights
	if err != nil {
		t.Fatal(err)
	}
	ext := skipAll()
	ext.SaveAsExternalData = true
	ext.ModelName = "m.onnx"
	full := proto.Clone(ext).(*quantprepv1.Options)
	full.SkipOptimization, full.SkipSymbolicShape, full.SkipOnnxShape = false, false, false
	full.ModelName = "bomb.onnx"
	tests := []struct {
		name   string
		limits Limits
		reqs   []*quantprepv1.PreprocessRequest
		msg    string
	}{
		{"folded constant over the quota", Limits{RequestDiskQuota: 1 << 20},
			[]*quantprepv1.PreprocessRequest{optsMsg(full), modelMsg(foldBomb(t))}, "disk quota"},
		{"output over the quota", Limits{RequestDiskQuota: int64(len(inline)) + 4096},
			[]*quantprepv1.PreprocessRequest{optsMsg(ext), modelMsg(inline)}, "disk quota"},
		{"upload over the server's budget", Limits{DiskBudget: 1000},
			[]*quantprepv1.PreprocessRequest{optsMsg(ext), modelMsg(inline)}, "disk budget"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := startServer(t, Config{Limits: tt.limits}, nil)
			err := call(context.Background(), env.conn, tt.reqs)
			if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("got %v, want ResourceExhausted naming the %s", err, tt.msg)
			}
			noServerPath(t, err, env.tmp)
			env.assertNoSpool(t)
			if used := env.srv.svc.disk.used.Load(); used != 0 {
				t.Errorf("%d bytes still counted against the disk budget", used)
			}
			if tt.limits.DiskBudget == 0 {
				honest(t, env.conn)
			}
		})
	}
}

// TestHostileMemory: a model whose estimate exceeds the memory budget is
// refused; two that fit only one at a time run one after the other.
func TestHostileMemory(t *testing.T) {
	dir := t.TempDir()
	in := writeModel(t, testModel(16), dir, "m.onnx")
	st, err := os.Stat(in)
	if err != nil {
		t.Fatal(err)
	}
	values, err := countValues(in)
	if err != nil {
		t.Fatal(err)
	}
	one := estimateMemory(st.Size(), values, 0, PipelineOptions(skipAll()))

	env := startServer(t, Config{Limits: Limits{MemoryBudget: one / 2}}, nil)
	_, err = client.PreprocessFile(context.Background(), env.conn, in, filepath.Join(dir, "o.onnx"), skipAll(), nil)
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "memory budget") {
		t.Errorf("got %v, want ResourceExhausted naming the memory budget", err)
	}
	env.assertNoSpool(t)

	// 200 000 empty nodes: 400 KB on the wire, some 60 MB decoded. Its
	// estimate counts the nodes, not just the bytes.
	dense := testModel(16)
	for range 200000 {
		dense.Graph.Node = append(dense.Graph.Node, &onnxpb.NodeProto{})
	}
	denseIn := writeModel(t, dense, dir, "dense.onnx")
	// The honest model's estimate fits, the dense one's (~60 MB more) does not.
	env = startServer(t, Config{Limits: Limits{MemoryBudget: one + 32<<20}}, nil)
	_, err = client.PreprocessFile(context.Background(), env.conn, denseIn, filepath.Join(dir, "o.onnx"), skipAll(), nil)
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "memory budget") {
		t.Errorf("node-dense model: got %v, want ResourceExhausted naming the memory budget", err)
	}
	env.assertNoSpool(t)
	honest(t, env.conn)

	r := newBlockingRunner()
	env = startServer(t, Config{Workers: 2, Limits: Limits{MemoryBudget: one + one/2}}, r)
	first := preprocessAsync(context.Background(), env.conn, in, filepath.Join(dir, "1.onnx"))
	<-r.started
	second := preprocessAsync(context.Background(), env.conn, in, filepath.Join(dir, "2.onnx"))
	time.Sleep(300 * time.Millisecond)
	if n := len(r.started); n != 0 {
		t.Errorf("a second run started although the memory budget holds only one")
	}
	if used := env.srv.svc.mem.inUse(); used != one {
		t.Errorf("memory in use %d, want %d", used, one)
	}
	close(r.release)
	for i, ch := range []chan error{first, second} {
		if err := <-ch; err != nil {
			t.Errorf("request %d: %v", i+1, err)
		}
	}
	if used := env.srv.svc.mem.inUse(); used != 0 {
		t.Errorf("memory in use %d after the runs, want 0", used)
	}
	env.assertNoSpool(t)
}

// TestHostileNames: names the file system refuses, and names that collide
// with the model's own, are the client's mistake: INVALID_ARGUMENT or
// FAILED_PRECONDITION, never INTERNAL, and never a server path.
func TestHostileNames(t *testing.T) {
	dir := t.TempDir()
	inline, err := os.ReadFile(writeModel(t, testModel(16), dir, "m.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	nested := filepath.Join(dir, "nested")
	os.Mkdir(nested, 0o755)
	underModel, err := os.ReadFile(writeModel(t, testModel(16), nested, "other.onnx", "m.onnx/x.bin"))
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("n", 300)
	deep := strings.Repeat("d/", 100) + "x.bin"
	opts := func(f func(o *quantprepv1.Options)) *quantprepv1.Options {
		o := skipAll()
		o.ModelName = "m.onnx"
		f(o)
		return o
	}
	tests := []struct {
		name string
		reqs []*quantprepv1.PreprocessRequest
	}{
		{"300-byte model_name", []*quantprepv1.PreprocessRequest{optsMsg(opts(func(o *quantprepv1.Options) { o.ModelName = long + ".onnx" })), modelMsg(inline)}},
		{"300-byte output_name", []*quantprepv1.PreprocessRequest{optsMsg(opts(func(o *quantprepv1.Options) { o.OutputName = long + ".onnx" })), modelMsg(inline)}},
		{"deep external_data_location", []*quantprepv1.PreprocessRequest{optsMsg(opts(func(o *quantprepv1.Options) {
			o.SaveAsExternalData, o.AllTensorsToOneFile, o.ExternalDataLocation = true, true, deep
		})), modelMsg(inline)}},
		{"long external_data_location", []*quantprepv1.PreprocessRequest{optsMsg(opts(func(o *quantprepv1.Options) {
			o.SaveAsExternalData, o.AllTensorsToOneFile, o.ExternalDataLocation = true, true, long
		})), modelMsg(inline)}},
		{"external_data_location is output_name", []*quantprepv1.PreprocessRequest{optsMsg(opts(func(o *quantprepv1.Options) {
			o.SaveAsExternalData, o.AllTensorsToOneFile, o.ExternalDataLocation, o.OutputName = true, true, "out.onnx", "out.onnx"
		})), modelMsg(inline)}},
		{"external_data_location under output_name", []*quantprepv1.PreprocessRequest{optsMsg(opts(func(o *quantprepv1.Options) {
			o.SaveAsExternalData, o.AllTensorsToOneFile, o.ExternalDataLocation = true, true, "m.onnx/w.bin"
		})), modelMsg(inline)}},
		{"model references m.onnx/x.bin, sent", []*quantprepv1.PreprocessRequest{optsMsg(opts(func(*quantprepv1.Options) {})),
			modelMsg(underModel), extMsg("m.onnx/x.bin", make([]byte, 128))}},
		{"model references m.onnx/x.bin, not sent", []*quantprepv1.PreprocessRequest{optsMsg(opts(func(*quantprepv1.Options) {})), modelMsg(underModel)}},
		{"external file under another", []*quantprepv1.PreprocessRequest{optsMsg(opts(func(*quantprepv1.Options) {})),
			modelMsg(inline), extMsg("a.bin", []byte{1}), extMsg("a.bin/b.bin", []byte{1})}},
		{"deep external chunk", []*quantprepv1.PreprocessRequest{optsMsg(opts(func(*quantprepv1.Options) {})), modelMsg(inline), extMsg(deep, []byte{1})}},
		{"long external chunk", []*quantprepv1.PreprocessRequest{optsMsg(opts(func(*quantprepv1.Options) {})), modelMsg(inline), extMsg(long, []byte{1})}},
	}
	env := startServer(t, Config{}, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := call(context.Background(), env.conn, tt.reqs)
			if c := status.Code(err); c != codes.InvalidArgument && c != codes.FailedPrecondition {
				t.Errorf("got %v, want InvalidArgument or FailedPrecondition", err)
			}
			t.Logf("%v", err)
			noServerPath(t, err, env.tmp)
			env.assertNoSpool(t)
		})
	}
	honest(t, env.conn)
}

// TestStaleSpoolRemoved: a server killed mid-request leaves its request
// directory; the next server on that temp dir removes it, unless another live
// server shares the dir.
func TestStaleSpoolRemoved(t *testing.T) {
	tmp := t.TempDir()
	stale := filepath.Join(tmp, "req-123", "in")
	if err := os.MkdirAll(stale, 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(stale, "m.onnx"), []byte("left behind"), 0o600)
	keep := filepath.Join(tmp, "not-ours")
	os.WriteFile(keep, nil, 0o600)

	a, err := New(Config{TempDir: tmp}, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(tmp, "req-123")); !os.IsNotExist(err) {
		t.Errorf("the stale request directory is still there: %v", err)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("a file that is not a request directory was removed: %v", err)
	}
	// A directory of a live server (a) is not stale for a second one.
	live := filepath.Join(tmp, "req-456")
	os.Mkdir(live, 0o700)
	b, err := New(Config{TempDir: tmp}, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("a live server's request directory was removed: %v", err)
	}
	a.Stop()
	b.Stop()
	c, err := New(Config{TempDir: tmp}, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	if _, err := os.Stat(live); !os.IsNotExist(err) {
		t.Errorf("once no server runs, its directory is stale: %v", err)
	}
}

// TestHostileDiskBudgetRace: concurrent requests reserving from one budget
// never leave bytes counted after they end.
func TestHostileDiskBudgetRace(t *testing.T) {
	g := &diskBudget{limit: 1 << 20}
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := newRequestDisk(1<<18, g, nil)
			for range 100 {
				if r.Reserve(int64(1000+i)) != nil {
					break
				}
			}
			r.release()
		}()
	}
	wg.Wait()
	if u := g.used.Load(); u != 0 {
		t.Errorf("%d bytes still counted", u)
	}
	r := newRequestDisk(100, g, nil)
	if err := r.Reserve(101); err == nil || !strings.Contains(err.Error(), "quota") {
		t.Errorf("over the quota: %v", err)
	}
	if err := r.Reserve(1); err == nil {
		t.Errorf("a request over its quota may reserve again")
	}
}
