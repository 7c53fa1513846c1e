package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/quantprep/quantprep/client/tlsfiles/tlstest"
)

// startServeCmd runs `quantprep serve args...` in process until the test
// ends, and returns the addresses it logged: the gRPC listener's and the
// metrics listener's ("" if none).
func startServeCmd(t *testing.T, args ...string) (grpcAddr, metricsAddr string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- runContext(ctx, append([]string{"serve", "--listen", "127.0.0.1:0"}, args...), io.Discard, pw)
		pw.Close()
	}()
	addrs := make(chan [2]string, 1)
	var logs bytes.Buffer
	logged := make(chan struct{})
	go func() {
		defer close(logged)
		var metrics string
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			logs.Write(append(sc.Bytes(), '\n'))
			var line map[string]any
			if json.Unmarshal(sc.Bytes(), &line) != nil {
				continue
			}
			if a, ok := line["metrics_addr"].(string); ok {
				metrics = a
			}
			if line["msg"] == "serving" {
				addrs <- [2]string{fmt.Sprint(line["addr"]), metrics}
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != exitOK {
			t.Errorf("serve exited %d", code)
		}
		<-logged
		if t.Failed() {
			t.Logf("serve's log:\n%s", logs.String())
		}
	})
	select {
	case a := <-addrs:
		return a[0], a[1]
	case code := <-done:
		t.Fatalf("serve exited %d before serving", code)
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not start")
	}
	return "", ""
}

// scrape reads the metrics at addr.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

// sample is the value of the series of mf whose labels include want: a
// counter's or a gauge's value, a histogram's sample count; -1 if absent.
func sample(mf *dto.MetricFamily, want map[string]string) float64 {
series:
	for _, m := range mf.GetMetric() {
		for _, l := range m.GetLabel() {
			if v, ok := want[l.GetName()]; ok && v != l.GetValue() {
				continue series
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	return -1
}

// TestServeMutualTLSAndMetrics is the platform's end-to-end check: serve with
// mutual TLS and metrics; preprocess --server with a client certificate, by
// flags and by environment; a client without a certificate, or without TLS,
// is refused; /metrics counts exactly the requests that ran.
func TestServeMutualTLSAndMetrics(t *testing.T) {
	pki, err := tlstest.Write(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	addr, metricsAddr := startServeCmd(t, "--metrics_listen", "127.0.0.1:0", "--temp_dir", tmp, "--workers", "1",
		"--tls_cert_file", pki.ServerCert, "--tls_key_file", pki.ServerKey, "--tls_client_ca_file", pki.CA)
	if metricsAddr == "" {
		t.Fatal("serve logged no metrics address")
	}
	dir := t.TempDir()
	in := writeTestModel(t, dir, 256)
	inSize := fileSize(t, in)

	// By flags, with --json for the summary.
	var stdout, stderr bytes.Buffer
	out := filepath.Join(dir, "flags.onnx")
	code := run([]string{"preprocess", "--input", in, "--output", out, "--json", "--server", addr,
		"--tls_ca_file", pki.CA, "--tls_cert_file", pki.ClientCert, "--tls_key_file", pki.ClientKey}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("preprocess with a client certificate: exit %d: %s", code, stderr.String())
	}
	var sum struct {
		RequestID     string `json:"request_id"`
		ServerVersion string `json:"server_version"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &sum); err != nil || sum.RequestID == "" || sum.ServerVersion == "" {
		t.Errorf("summary %s: want a request_id and a server_version (%v)", stdout.String(), err)
	}
	outSize := fileSize(t, out)

	// By environment, as the sidecar's application would.
	t.Setenv("QUANTPREP_SERVER", addr)
	t.Setenv("QUANTPREP_TLS_CA_FILE", pki.CA)
	t.Setenv("QUANTPREP_TLS_CLIENT_CERT_FILE", pki.ClientCert)
	t.Setenv("QUANTPREP_TLS_CLIENT_KEY_FILE", pki.ClientKey)
	t.Setenv("QUANTPREP_TLS_CERT_FILE", "/serve's/own.pem") // not the client's
	stderr.Reset()
	if code := run([]string{"preprocess", "--input", in, "--output", filepath.Join(dir, "env.onnx")}, io.Discard, &stderr); code != exitOK {
		t.Fatalf("preprocess with QUANTPREP_SERVER and QUANTPREP_TLS_*: exit %d: %s", code, stderr.String())
	}
	stderr.Reset()
	if code := run([]string{"version"}, &stdout, &stderr); code != exitOK || !strings.Contains(stdout.String(), "server ") {
		t.Errorf("version against the server: exit %d: %s%s", code, stdout.String(), stderr.String())
	}

	// Refused: no client certificate; no TLS at all.
	for name, args := range map[string][]string{
		"no client certificate": {"--tls_ca_file", pki.CA, "--tls_cert_file", "", "--tls_key_file", ""},
		"plaintext":             {"--tls_ca_file", "", "--tls_cert_file", "", "--tls_key_file", ""},
	} {
		stderr.Reset()
		refused := filepath.Join(dir, "refused.onnx")
		code := run(append([]string{"preprocess", "--input", in, "--output", refused, "--timeout", "20s"}, args...), io.Discard, &stderr)
		if code != exitFailure || !strings.Contains(stderr.String(), "Unavailable") {
			t.Errorf("%s: exit %d, %q; want exit 1 and Unavailable", name, code, stderr.String())
		}
		if _, err := os.Stat(refused); !os.IsNotExist(err) {
			t.Errorf("%s: a refused request wrote %s", name, refused)
		}
	}

	mfs := scrape(t, metricsAddr)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"quantprep_models_processed_total", map[string]string{"outcome": "OK"}, 2},
		{"quantprep_received_bytes_total", nil, float64(2 * inSize)},
		{"quantprep_sent_bytes_total", nil, float64(2 * outSize)},
		{"quantprep_pipeline_step_duration_seconds", map[string]string{"step": "save"}, 2},
		{"quantprep_pipeline_step_duration_seconds", map[string]string{"step": "optimize"}, 2},
		{"quantprep_rejections_total", map[string]string{"reason": "queue_full"}, 0},
		{"quantprep_queue_depth", nil, 0},
		{"quantprep_busy_workers", nil, 0},
		{"quantprep_workers", nil, 1},
		{"grpc_server_handled_total", map[string]string{"grpc_method": "Preprocess", "grpc_code": "OK"}, 2},
		{"grpc_server_handled_total", map[string]string{"grpc_method": "ServerInfo", "grpc_code": "OK"}, 1},
		{"grpc_server_started_total", map[string]string{"grpc_method": "Preprocess"}, 2},
	} {
		mf := mfs[c.name]
		if mf == nil {
			t.Errorf("/metrics has no %s", c.name)
			continue
		}
		if got := sample(mf, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if mfs["go_goroutines"] == nil || mfs["quantprep_build_info"] == nil {
		t.Error("/metrics lacks the Go runtime's or the build's metrics")
	}
}

func fileSize(t *testing.T, p string) int64 {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

func TestByteSizes(t *testing.T) {
	tests := []struct {
		in   string
		want int64 // 0: refused
	}{
		{"1048576", 1 << 20},
		{"1Gi", 1 << 30},
		{"512Mi", 512 << 20},
		{"1GiB", 1 << 30},
		{"1.5GiB", 3 << 29},
		{"1GB", 1e9},
		{"1G", 1e9},
		{"8 GiB", 8 << 30},
		{"0", 0},
		{"-1Gi", 0},
		{"1Xi", 0},
		{"", 0},
		{"99999999EiB", 0},
	}
	for _, tt := range tests {
		var b byteSize
		err := b.Set(tt.in)
		switch {
		case tt.want == 0 && err == nil:
			t.Errorf("%q: accepted as %d", tt.in, b)
		case tt.want != 0 && (err != nil || int64(b) != tt.want):
			t.Errorf("%q: got %d, %v; want %d", tt.in, b, err, tt.want)
		}
	}
}

// TestServerTargets: a target gRPC could never dial is a usage error (exit 2)
// before anything runs; dns:/// targets reach the server.
func TestServerTargets(t *testing.T) {
	dir := t.TempDir()
	in := writeTestModel(t, dir, 8)
	for _, target := range []string{"grpc://localhost:50051", "localhost", "localhost:99999", "http://localhost:50051", "dns:///localhost", " localhost:1"} {
		var stderr bytes.Buffer
		code := run([]string{"preprocess", "--input", in, "--output", filepath.Join(dir, "out.onnx"), "--server", target}, io.Discard, &stderr)
		if code != exitUsage || !strings.Contains(stderr.String(), "--server") {
			t.Errorf("--server %q: exit %d, %q; want a usage error", target, code, stderr.String())
		}
	}
	addr, _ := startServeCmd(t, "--temp_dir", t.TempDir())
	var stderr bytes.Buffer
	if code := run([]string{"preprocess", "--input", in, "--output", filepath.Join(dir, "out.onnx"), "--server", "dns:///" + addr}, io.Discard, &stderr); code != exitOK {
		t.Errorf("--server dns:///%s: exit %d: %s", addr, code, stderr.String())
	}
	if code := run([]string{"preprocess", "--input", in, "--output", filepath.Join(dir, "late.onnx"), "--server", addr, "--timeout", "1ns"}, io.Discard, &stderr); code != exitFailure ||
		!strings.Contains(stderr.String(), "DeadlineExceeded") {
		t.Errorf("--timeout 1ns: exit %d: %s; want DeadlineExceeded", code, stderr.String())
	}
}

// TestTracingOnlyWithEndpoint: no OTLP endpoint, no tracer (and no exporter
// trying to connect); an endpoint gives one.
func TestTracingOnlyWithEndpoint(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	tp, err := tracerFromEnv(context.Background())
	if err != nil || tp != nil {
		t.Fatalf("without an endpoint: %v, %v; want no tracer", tp, err)
	}
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
	tp, err = tracerFromEnv(context.Background())
	if err != nil || tp == nil {
		t.Fatalf("with an endpoint: %v, %v; want a tracer", tp, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	tp.Shutdown(ctx) // nothing listens there; flushing gives up
}
