package archtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestClientModuleConsumer builds a throwaway module that imports the Go
// client, as a user's program would, and checks what it inherits: no
// Kubernetes module, nothing of the product's own module, and the client's Go
// version, not the product's.
func TestClientModuleConsumer(t *testing.T) {
	if testing.Short() {
		t.Skip("resolves a module graph with the go command")
	}
	root := moduleRoot(t)
	for _, m := range []string{"api", "client"} {
		data, err := os.ReadFile(filepath.Join(root, m, "go.mod"))
		if err != nil {
			t.Fatal(err)
		}
		text := "\n" + string(data)
		if want := "\nmodule " + module + "/" + m + "\n"; !strings.Contains(text, want) {
			t.Errorf("%s/go.mod does not declare module %s/%s", m, module, m)
		}
		// grpc 1.64 (the first with the generic stream types the generated
		// code uses) needs Go 1.19, protobuf 1.36 needs 1.21.
		if !strings.Contains(text, "\ngo 1.21\n") {
			t.Errorf("%s/go.mod: want go 1.21, the lowest grpc and protobuf allow", m)
		}
	}
	dir := t.TempDir()
	gomod := `module example.com/consumer

go 1.21

require github.com/quantprep/quantprep/client v0.0.0-00010101000000-000000000000

replace (
	github.com/quantprep/quantprep/api => ` + filepath.Join(root, "api") + `
	github.com/quantprep/quantprep/client => ` + filepath.Join(root, "client") + `
)
`
	main := `package main

import (
	"context"

	quantprepv1 "github.com/quantprep/quantprep/api/quantprep/v1"
	"github.com/quantprep/quantprep/client"
)

func main() {
	conn, err := client.Dial("localhost:50051", client.DialOptions{})
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	_, _ = client.PreprocessFile(context.Background(), conn, "in.onnx", "out.onnx", &quantprepv1.Options{}, nil)
}
`
	for name, text := range map[string]string{"go.mod": gomod, "main.go": main} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gocmd := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		// GOTOOLCHAIN=local: the go line must not make the test fetch a toolchain.
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off", "GOTOOLCHAIN=local")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	gocmd("mod", "tidy")
	gocmd("build", "-o", os.DevNull, ".")
	mods := strings.Fields(gocmd("list", "-m", "-f", "{{.Path}}", "all"))
	for _, m := range mods {
		if strings.HasPrefix(m, "k8s.io/") || strings.HasPrefix(m, "sigs.k8s.io/") || m == module {
			t.Errorf("a consumer of the client inherits %s", m)
		}
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "go.mod")); !strings.Contains(string(got), "\ngo 1.21\n") {
		t.Errorf("go mod tidy raised the consumer's go version:\n%s", got)
	}
	t.Logf("a consumer's module graph: %d modules", len(mods))
}
