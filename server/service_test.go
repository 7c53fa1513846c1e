package server

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	quantprepv1 "github.com/quantprep/quantprep/api/quantprep/v1"
	"github.com/quantprep/quantprep/client"
)

// startExtras starts a server with opts on an in-memory listener and dials it
// with the Go client's own options (service config, retries).
func startExtras(t *testing.T, cfg Config, runner Runner, opts ...Option) (*Server, *grpc.ClientConn, *observer.ObservedLogs) {
	t.Helper()
	if cfg.TempDir == "" {
		cfg.TempDir = t.TempDir()
	}
	core, logs := observer.New(zapcore.InfoLevel)
	srv, err := New(cfg, zap.New(core), runner, opts...)
	if err != nil {
		t.Fatal(err)
	}
	lis := bufconn.Listen(1 << 20)
	go srv.Serve(lis)
	conn, err := client.Dial("passthrough:///bufnet:1", client.DialOptions{Extra: []grpc.DialOption{
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) })}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		srv.Stop()
	})
	return srv, conn, logs
}

// metricValue is the value of the series of name whose labels include want
// (a counter's, a gauge's, or a histogram's sample count); -1 if absent.
func metricValue(t *testing.T, g prometheus.Gatherer, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue series
				}
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				return m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				return m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return -1
}

// TestMetricsTracesAndRequestLogs runs two good requests and a bad one and
// checks what each observer saw: the metrics' counts, a span per pipeline step
// under the RPC's span, the request id on every log line and in the summary.
func TestMetricsTracesAndRequestLogs(t *testing.T) {
	reg := prometheus.NewRegistry()
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	_, conn, logs := startExtras(t, Config{}, nil, WithMetrics(reg), WithTracerProvider(tp))

	dir := t.TempDir()
	in := writeModel(t, testModel(16), dir, "m.onnx")
	st, err := os.Stat(in)
	if err != nil {
		t.Fatal(err)
	}
	ctx := metadata.AppendToOutgoingContext(context.Background(), RequestIDKey, "req-from-client")
	sum, err := client.PreprocessFile(ctx, conn, in, filepath.Join(dir, "1.onnx"), skipAll(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.GetRequestId() != "req-from-client" || sum.GetServerVersion() == "" {
		t.Errorf("summary request_id %q, server_version %q; want the client's id and a version", sum.GetRequestId(), sum.GetServerVersion())
	}
	sum2, err := client.PreprocessFile(context.Background(), conn, in, filepath.Join(dir, "2.onnx"), skipAll(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if id := sum2.GetRequestId(); len(id) != 32 {
		t.Errorf("made-up request id %q, want 32 hex digits", id)
	}
	bad := skipAll()
	bad.Verbose = 2 // the client library would refuse it: send it raw
	if err := call(context.Background(), conn, []*quantprepv1.PreprocessRequest{optsMsg(bad)}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("verbose 2: got %v, want InvalidArgument", err)
	}
	// A client has its summary a moment before the server's handler returns
	// and the call's metrics and span are recorded.
	for deadline := time.Now().Add(5 * time.Second); metricValue(t, reg, "grpc_server_handling_seconds", map[string]string{"grpc_method": "Preprocess"}) < 3; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the server never finished three calls")
		}
	}

	out1, _ := os.Stat(filepath.Join(dir, "1.onnx"))
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"quantprep_models_processed_total", map[string]string{"outcome": "OK"}, 2},
		{"quantprep_models_processed_total", map[string]string{"outcome": "InvalidArgument"}, 1},
		{"quantprep_received_bytes_total", nil, float64(2 * st.Size())}, // the bad request is refused before its model
		{"quantprep_sent_bytes_total", nil, float64(2 * out1.Size())},
		{"quantprep_pipeline_step_duration_seconds", map[string]string{"step": "save"}, 2},
		{"quantprep_rejections_total", map[string]string{"reason": "queue_full"}, 0},
		{"quantprep_queue_depth", nil, 0},
		{"quantprep_busy_workers", nil, 0},
		{"grpc_server_handled_total", map[string]string{"grpc_method": "Preprocess", "grpc_code": "OK"}, 2},
		{"grpc_server_handling_seconds", map[string]string{"grpc_method": "Preprocess"}, 3},
	} {
		if got := metricValue(t, reg, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}

	// Spans: per good request, the RPC's span, the pipeline's under it, and
	// the four steps under that (three skipped).
	byID := map[string]tracetest.SpanStub{}
	for _, s := range spans.GetSpans() {
		byID[s.SpanContext.SpanID().String()] = s
	}
	steps := map[string]int{}
	for _, s := range spans.GetSpans() {
		if !strings.HasPrefix(s.Name, "quantprep.step.") {
			continue
		}
		steps[s.Name]++
		pipe := byID[s.Parent.SpanID().String()]
		rpc := byID[pipe.Parent.SpanID().String()]
		if pipe.Name != "quantprep.pipeline" || rpc.Name != "quantprep.v1.PreprocessService/Preprocess" {
			t.Errorf("span %s: parents %q, %q; want the pipeline's under the RPC's", s.Name, pipe.Name, rpc.Name)
		}
	}
	for _, step := range []string{"symbolic_shape", "optimize", "onnx_shape", "save"} {
		if steps["quantprep.step."+step] != 2 {
			t.Errorf("%d spans for step %s, want 2 (%v)", steps["quantprep.step."+step], step, steps)
		}
	}

	// Logs: every line of the first request carries its id; its last has the
	// model, the bytes, the code and the time.
	var lines []observer.LoggedEntry
	for _, e := range logs.All() {
		if e.ContextMap()["request_id"] == "req-from-client" {
			lines = append(lines, e)
		}
	}
	if len(lines) < 2 {
		t.Fatalf("%d log lines carry the request id, want the start and the end: %v", len(lines), logs.All())
	}
	end := lines[len(lines)-1].ContextMap()
	if end["model"] != "m.onnx" || end["bytes_in"] != st.Size() || end["bytes_out"] != out1.Size() || end["grpc.code"] != "OK" || end["grpc.time_ms"] == nil {
		t.Errorf("request log's last line: %v", end)
	}
}

// TestBusyCarriesRetryInfo checks that a stream turned away as busy says when
// to retry, and is counted by reason.
func TestBusyCarriesRetryInfo(t *testing.T) {
	reg := prometheus.NewRegistry()
	// A plain grpc client, with no retry policy, sees the refusal.
	srv, err := New(Config{MaxStreams: 1, TempDir: t.TempDir()}, nil, nil, WithMetrics(reg))
	if err != nil {
		t.Fatal(err)
	}
	lis := bufconn.Listen(1 << 20)
	go srv.Serve(lis)
	defer srv.Stop()
	conn, err := grpc.NewClient("passthrough:///bufnet", grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	open, err := quantprepv1.NewPreprocessServiceClient(conn).Preprocess(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := open.Header(); err != nil { // accepted
		t.Fatal(err)
	}
	err = call(ctx, conn, []*quantprepv1.PreprocessRequest{optsMsg(skipAll())})
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted {
		t.Fatalf("second stream: got %v, want ResourceExhausted", err)
	}
	var delay time.Duration
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			delay = ri.GetRetryDelay().AsDuration()
		}
	}
	if delay != RetryDelay {
		t.Errorf("RetryInfo delay %v, want %v (details %v)", delay, RetryDelay, st.Details())
	}
	if got := metricValue(t, reg, "quantprep_rejections_total", map[string]string{"reason": "stream_limit"}); got != 1 {
		t.Errorf("stream_limit rejections %v, want 1", got)
	}
}

// TestClientRetriesBusyBeforeUpload holds the only stream slot, starts a
// request with the Go client (which waits for the server to accept its
// stream before sending the model), then frees the slot: the client's retry
// policy gets the request through, and the model was uploaded once.
func TestClientRetriesBusyBeforeUpload(t *testing.T) {
	reg := prometheus.NewRegistry()
	_, conn, _ := startExtras(t, Config{MaxStreams: 1}, nil, WithMetrics(reg))
	dir := t.TempDir()
	in := writeModel(t, testModel(16), dir, "m.onnx")
	st, _ := os.Stat(in)

	holdCtx, release := context.WithCancel(context.Background())
	hold, err := quantprepv1.NewPreprocessServiceClient(conn).Preprocess(holdCtx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hold.Header(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := client.PreprocessFile(context.Background(), conn, in, filepath.Join(dir, "out.onnx"), skipAll(), nil)
		done <- err
	}()
	for deadline := time.Now().Add(5 * time.Second); metricValue(t, reg, "quantprep_rejections_total", map[string]string{"reason": "stream_limit"}) < 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the client's first attempt was never turned away")
		}
	}
	release()
	if err := <-done; err != nil {
		t.Fatalf("the client did not retry through: %v", err)
	}
	if got := metricValue(t, reg, "quantprep_received_bytes_total", nil); got != float64(st.Size()) {
		t.Errorf("received %v bytes, want the model's %d once", got, st.Size())
	}
}

// countingListener counts the connections it accepts.
type countingListener struct {
	net.Listener
	n atomic.Int32
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// TestMaxConnectionAgeRecycles runs requests for a while against a server
// whose connections age out in 200ms: the client moves to new connections
// (as it would to new pods) and no request fails.
func TestMaxConnectionAgeRecycles(t *testing.T) {
	srv, err := New(Config{TempDir: t.TempDir()}, nil, nil,
		WithKeepalive(Keepalive{MaxConnectionAge: 200 * time.Millisecond, MaxConnectionAgeGrace: 30 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lis := &countingListener{Listener: tcp}
	go srv.Serve(lis)
	defer srv.Stop()
	conn, err := client.Dial(tcp.Addr().String(), client.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	dir := t.TempDir()
	in := writeModel(t, testModel(64), dir, "m.onnx")
	var wg sync.WaitGroup
	var ok, failed atomic.Int32
	stop := time.Now().Add(1500 * time.Millisecond)
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(stop) && i < 500; i++ {
				out := filepath.Join(dir, "out-"+string(rune('a'+w))+".onnx")
				if _, err := client.PreprocessFile(context.Background(), conn, in, out, skipAll(), nil); err != nil {
					failed.Add(1)
					t.Errorf("request failed: %v", err)
					return
				}
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	t.Logf("%d requests over %d connections", ok.Load(), lis.n.Load())
	if failed.Load() > 0 {
		t.Fatalf("%d requests failed", failed.Load())
	}
	if lis.n.Load() < 3 {
		t.Errorf("%d connections in 1.5s with a max age of 200ms: not recycled", lis.n.Load())
	}
}
