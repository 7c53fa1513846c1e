package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// quantprepBinary returns $QUANTPREP_BIN if set (a binary to test, such as one
// taken out of the image), else builds cmd/quantprep once, or skips when it is
// not in the module (it is written on another branch until the merge).
func quantprepBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("QUANTPREP_BIN"); bin != "" {
		return bin
	}
	if testing.Short() {
		t.Skip("builds the quantprep binary; skipped with -short")
	}
	if _, err := os.Stat(filepath.Join("..", "cmd", "quantprep")); errors.Is(err, os.ErrNotExist) {
		t.Skip("cmd/quantprep is not in the module yet")
	}
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "quantprep-deploy-test")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "quantprep")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/quantprep")
		cmd.Dir = ".."
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build ./cmd/quantprep: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

var envRef = regexp.MustCompile(`QUANTPREP_[A-Z0-9_]+`)

// TestEnvMatchesServeFlags checks that every QUANTPREP_ variable the manifests
// and the Dockerfile set is one that `quantprep serve` reads, so that a renamed
// flag cannot leave a deployment silently on defaults.
func TestEnvMatchesServeFlags(t *testing.T) {
	bin := quantprepBinary(t)
	help, err := exec.Command(bin, "serve", "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("quantprep serve --help: %v\n%s", err, help)
	}
	known := map[string]bool{}
	for _, name := range envRef.FindAllString(string(help), -1) {
		known[name] = true
	}
	if len(known) == 0 {
		t.Fatalf("quantprep serve --help names no QUANTPREP_ variable:\n%s", help)
	}
	used := map[string][]string{}
	for _, fc := range quantprepContainers(t) {
		for _, e := range fc.c.Env {
			if strings.HasPrefix(e.Name, "QUANTPREP_") {
				used[e.Name] = append(used[e.Name], fc.file)
			}
		}
	}
	dockerfile, err := os.ReadFile(filepath.Join("..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range envRef.FindAllString(string(dockerfile), -1) {
		used[name] = append(used[name], "Dockerfile")
	}
	for name, files := range used {
		if !known[name] {
			t.Errorf("%s (set in %s) is not a variable of quantprep serve; it reads %v", name, strings.Join(files, ", "), keys(known))
		}
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// containerEnv is the environment the kubelet would give c: literal values and
// resourceFieldRef limits (rounded up, as the downward API does).
func containerEnv(t *testing.T, c corev1.Container) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.ResourceFieldRef != nil:
			ref := e.ValueFrom.ResourceFieldRef
			name, _ := strings.CutPrefix(ref.Resource, "limits.")
			q, ok := c.Resources.Limits[corev1.ResourceName(name)]
			if !ok {
				t.Fatalf("env %s: container %s has no %s", e.Name, c.Name, ref.Resource)
			}
			div := int64(1)
			if !ref.Divisor.IsZero() {
				div = ref.Divisor.Value()
			}
			env[e.Name] = strconv.FormatInt((q.MilliValue()+1000*div-1)/(1000*div), 10)
		default:
			t.Fatalf("env %s: a source the test does not resolve", e.Name)
		}
	}
	return env
}

// TestServerAnswersProbes starts `quantprep serve` with each manifest's
// environment (on a loopback port and a temporary spool directory) and asks
// the health service what the liveness and readiness probes ask; both must
// answer SERVING, and SIGTERM must stop the server cleanly.
func TestServerAnswersProbes(t *testing.T) {
	bin := quantprepBinary(t)
	for _, fc := range quantprepContainers(t) {
		t.Run(fc.file+"/"+fc.c.Name, func(t *testing.T) { probeServer(t, bin, fc.c) })
	}
}

// fileContainer is a quantprep container of a Deployment and its manifest file.
type fileContainer struct {
	file string
	c    corev1.Container
}

// quantprepContainers lists the quantprep containers (init containers, as
// native sidecars are, and plain ones) of every Deployment in the manifests.
func quantprepContainers(t *testing.T) []fileContainer {
	t.Helper()
	var out []fileContainer
	for file, objs := range manifests(t) {
		for _, o := range objs {
			d, ok := o.(*appsv1.Deployment)
			if !ok {
				continue
			}
			spec := d.Spec.Template.Spec
			for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
				if isQuantprep(c) {
					out = append(out, fileContainer{file, c})
				}
			}
		}
	}
	return out
}

func probeServer(t *testing.T, bin string, c corev1.Container) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	env := containerEnv(t, c)
	env["QUANTPREP_LISTEN"] = addr
	env[tempDirEnv] = t.TempDir()
	// Mounted volumes stand for themselves here, as the temp dir does.
	if _, ok := env["QUANTPREP_SHARED_DIR"]; ok {
		env["QUANTPREP_SHARED_DIR"] = t.TempDir()
	}
	metricsAddr := ""
	if _, ok := env["QUANTPREP_METRICS_LISTEN"]; ok {
		ml, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		metricsAddr = ml.Addr().String()
		ml.Close()
		env["QUANTPREP_METRICS_LISTEN"] = metricsAddr
	}
	cmd := exec.Command(bin, "serve")
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		select {
		case <-done:
		default:
			cmd.Process.Kill()
			<-done
		}
	}()

	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	health := healthpb.NewHealthClient(conn)
	check := func(service string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		r, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
		if err != nil {
			return err
		}
		if r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			return fmt.Errorf("status %s", r.GetStatus())
		}
		return nil
	}
	probes := map[string]string{"liveness": "", "readiness": serviceName}
	for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe} {
		if p != nil && p.GRPC != nil && p.GRPC.Service != nil {
			probes[fmt.Sprintf("probe for %q", *p.GRPC.Service)] = *p.GRPC.Service
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for kind, service := range probes {
		for {
			err := check(service)
			if err == nil {
				break
			}
			select {
			case werr := <-done:
				done <- werr
				t.Fatalf("server exited (%v) before answering the %s probe:\n%s", werr, kind, tail(logs.String()))
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s probe (service %q): %v\n%s", kind, service, err, tail(logs.String()))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if metricsAddr != "" {
		resp, err := http.Get("http://" + metricsAddr + "/metrics")
		if err != nil {
			t.Fatalf("metrics: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), "quantprep_queue_depth ") {
			t.Errorf("metrics at %s lack quantprep_queue_depth", metricsAddr)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if d, ok := env["QUANTPREP_DRAIN_DELAY"]; ok && d != "0s" && d != "0" {
		// Draining: readiness fails at once while liveness holds.
		deadline := time.Now().Add(2 * time.Second)
		for check(serviceName) == nil && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if err := check(serviceName); err == nil {
			t.Error("readiness still SERVING while draining")
		}
		if err := check(""); err != nil {
			t.Errorf("liveness failed while draining: %v", err)
		}
	}
	select {
	case err := <-done:
		done <- err
		if err != nil {
			t.Errorf("server exit after SIGTERM: %v\n%s", err, tail(logs.String()))
		}
	case <-time.After(15 * time.Second):
		t.Errorf("server still running 15s after SIGTERM\n%s", tail(logs.String()))
	}
}

// tail is the last lines of a server log, for failure messages.
func tail(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > 20 {
		lines = append([]string{"..."}, lines[len(lines)-20:]...)
	}
	return strings.Join(lines, "\n")
}
