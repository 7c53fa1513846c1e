package archtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/quantprep/quantprep"

// moduleRoot is the directory of the module's go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		t.Fatal("not inside a module")
	}
	return filepath.Dir(gomod)
}

// goList lists the module's packages and their whole dependency closure, as the
// product is built (no build tags) with the given CGO_ENABLED.
func goList(t *testing.T, cgo string) Graph {
	t.Helper()
	cmd := exec.Command("go", "list", "-e", "-deps",
		"-json=ImportPath,Standard,Imports,Deps,CgoFiles,Error", "./...")
	cmd.Dir = moduleRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED="+cgo, "GOFLAGS=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	g := Graph{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		p := &Package{}
		if err := dec.Decode(p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		g[p.ImportPath] = p
	}
	if g[module+"/pipeline"] == nil {
		t.Fatalf("go list found no %s/pipeline in %d packages", module, len(g))
	}
	return g
}

// TestImportRules checks the real module against the rules.
func TestImportRules(t *testing.T) {
	g := goList(t, "0")
	for path, p := range g {
		if under(path, module) && p.Error != nil {
			t.Errorf("%s: %s", path, p.Error.Err)
		}
	}
	for _, v := range Check(module, g) {
		t.Error(v)
	}
	for _, must := range []string{"pipeline", "pipeline/model", "pipeline/opset", "pipeline/eval", "pipeline/tensor", "internal/onnxtext", "api/onnx"} {
		if g[module+"/"+must] == nil {
			t.Errorf("%s is missing from the listing: the rules would check nothing", must)
		}
	}
}

// TestBinaryHasNoCgo checks cmd/quantprep's closure, in both cgo settings.
func TestBinaryHasNoCgo(t *testing.T) {
	main := module + "/" + Binary
	for _, cgo := range []string{"0", "1"} {
		t.Run("CGO_ENABLED="+cgo, func(t *testing.T) {
			g := goList(t, cgo)
			if g[main] == nil {
				// The command is written on another branch; until it is merged
				// there is nothing to check.
				t.Skipf("%s is not in the module yet", Binary)
			}
			for _, v := range CheckStatic(g, main, cgo == "1") {
				t.Error(v)
			}
		})
	}
}

// fake builds a Graph from "path: import import ..." lines; Deps are the
// transitive closure. A path not under the module and not starting with "x."
// is standard library.
func fake(t *testing.T, lines ...string) Graph {
	t.Helper()
	g := Graph{}
	for _, l := range lines {
		path, imps, ok := strings.Cut(l, ":")
		if !ok {
			t.Fatalf("bad fake line %q", l)
		}
		path = strings.TrimSpace(path)
		g[path] = &Package{ImportPath: path, Imports: strings.Fields(imps)}
	}
	// Leaves named only as imports.
	for _, p := range g {
		for _, imp := range p.Imports {
			if g[imp] == nil {
				g[imp] = &Package{ImportPath: imp}
			}
		}
	}
	for path, p := range g {
		p.Standard = !strings.Contains(strings.SplitN(path, "/", 2)[0], ".")
		seen := map[string]bool{}
		var walk func(string)
		walk = func(q string) {
			for _, imp := range g[q].Imports {
				if !seen[imp] {
					seen[imp] = true
					walk(imp)
				}
			}
		}
		walk(path)
		for d := range seen {
			p.Deps = append(p.Deps, d)
		}
	}
	return g
}

func TestCheckFindsViolations(t *testing.T) {
	const m = module
	good := []string{
		m + "/cmd/quantprep: " + m + "/server " + m + "/client",
		m + "/server: " + m + "/pipeline " + m + "/api/quantprep/v1 google.golang.org/grpc go.uber.org/zap",
		m + "/client: " + m + "/api/quantprep/v1 google.golang.org/grpc",
		m + "/pipeline: " + m + "/pipeline/optimize fmt",
		m + "/pipeline/optimize: " + m + "/pipeline/infer",
		m + "/pipeline/infer: " + m + "/pipeline/model " + m + "/pipeline/sym",
		m + "/pipeline/sym: fmt math/big",
		m + "/pipeline/model: " + m + "/pipeline/tensor google.golang.org/protobuf/proto",
		m + "/pipeline/tensor: " + m + "/api/onnx",
		m + "/api/onnx: google.golang.org/protobuf/proto",
		m + "/api/quantprep/v1: google.golang.org/grpc",
		"google.golang.org/grpc: net google.golang.org/protobuf/proto",
		"go.uber.org/zap: os",
		"math/big: fmt",
	}
	if v := Check(m, fake(t, good...)); len(v) != 0 {
		t.Fatalf("a good graph has violations: %q", v)
	}
	replace := func(path, imports string) []string {
		lines := append([]string(nil), good...)
		for i, l := range lines {
			if strings.HasPrefix(l, m+"/"+path+":") {
				lines[i] = m + "/" + path + ": " + imports
				return lines
			}
		}
		return append(lines, m+"/"+path+": "+imports)
	}
	tests := []struct {
		name  string
		lines []string
		want  string
	}{
		{"pipeline imports grpc", replace("pipeline/model", m+"/pipeline/tensor google.golang.org/grpc"),
			"pipeline/model must not depend on google.golang.org/grpc: " + m + "/pipeline/model -> google.golang.org/grpc"},
		{"pipeline imports zap through a helper", append(replace("pipeline/infer", m+"/pipeline/model x.org/helper"), "x.org/helper: go.uber.org/zap"),
			"pipeline/infer must not depend on go.uber.org/zap: " + m + "/pipeline/infer -> x.org/helper -> go.uber.org/zap"},
		{"pipeline imports the service API", replace("pipeline", m+"/pipeline/optimize "+m+"/api/quantprep/v1"),
			"pipeline must not depend on " + m + "/api/quantprep/v1: " + m + "/pipeline -> " + m + "/api/quantprep/v1"},
		{"sym imports a module", replace("pipeline/sym", "fmt golang.org/x/exp/constraints"),
			"pipeline/sym must use only the standard library, not golang.org/x/exp/constraints: " + m + "/pipeline/sym -> golang.org/x/exp/constraints"},
		{"sym imports the model", replace("pipeline/sym", m+"/pipeline/tensor"),
			"pipeline/sym must use only the standard library, not " + m + "/pipeline/tensor: " + m + "/pipeline/sym -> " + m + "/pipeline/tensor"},
		{"client imports pipeline", replace("client", m+"/api/quantprep/v1 "+m+"/pipeline/model"),
			"client may use only " + m + "/api/..., not " + m + "/pipeline/model: " + m + "/client -> " + m + "/pipeline/model"},
		{"infer imports optimize", replace("pipeline/infer", m+"/pipeline/model "+m+"/pipeline/optimize"),
			"pipeline/infer (layer pipeline/infer) must not depend on the higher layer pipeline/optimize: " + m + "/pipeline/infer -> " + m + "/pipeline/optimize"},
		{"tensor imports model", replace("pipeline/tensor", m+"/api/onnx "+m+"/pipeline/model"),
			"pipeline/tensor (layer pipeline/tensor) must not depend on the higher layer pipeline/model: " + m + "/pipeline/tensor -> " + m + "/pipeline/model"},
		{"eval imports infer", replace("pipeline/eval", m+"/pipeline/model "+m+"/pipeline/infer"),
			"pipeline/eval (layer pipeline/eval) must not depend on the higher layer pipeline/infer: " + m + "/pipeline/eval -> " + m + "/pipeline/infer"},
		{"onnxtext imports the model", replace("internal/onnxtext", m+"/api/onnx "+m+"/pipeline/model"),
			"internal/onnxtext (layer internal/onnxtext) must not depend on the higher layer pipeline/model: " + m + "/internal/onnxtext -> " + m + "/pipeline/model"},
		{"a package in no layer", append(good, m+"/pipeline/graph: "+m+"/pipeline/model"),
			"pipeline/graph is in no layer: add it to archtest.Layers, or to archtest.Outside with the rule that holds it"},
		{"a package in no layer under internal", append(good, m+"/internal/newthing: fmt"),
			"internal/newthing is in no layer: add it to archtest.Layers, or to archtest.Outside with the rule that holds it"},
		{"a product package imports a test tool", append(replace("server", m+"/pipeline "+m+"/e2e"), m+"/e2e: fmt"),
			"e2e must not be imported (" + Top + "), but server imports it"},
		{"golden imports a module", append(good, m+"/internal/golden: "+m+"/pipeline/model"),
			"internal/golden must use only the standard library, not " + m + "/pipeline/model: " + m + "/internal/golden -> " + m + "/pipeline/model"},
		{"server imports cmd", replace("server", m+"/pipeline "+m+"/cmd/quantprep/flags"),
			"server (layer server) must not depend on the higher layer cmd: " + m + "/server -> " + m + "/cmd/quantprep/flags"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Check(m, fake(t, tt.lines...))
			if !containsLine(got, tt.want) {
				t.Errorf("violations %q lack %q", got, tt.want)
			}
		})
	}
}

func TestCheckStaticFindsCgo(t *testing.T) {
	main := module + "/cmd/quantprep"
	good := []string{
		main + ": " + module + "/server os",
		module + "/server: google.golang.org/grpc",
		"google.golang.org/grpc: net",
		"net: os",
	}
	if v := CheckStatic(fake(t, good...), main, false); len(v) != 0 {
		t.Fatalf("a good graph has violations: %q", v)
	}
	tests := []struct {
		name  string
		cgo   bool
		lines []string
		edit  func(Graph)
		want  string
	}{
		{"runtime/cgo", false, append(good[1:], main+": "+module+"/server os/user", "os/user: runtime/cgo"), nil,
			"runtime/cgo must not be in the binary: " + main + " -> os/user -> runtime/cgo"},
		{"purego", false, append(good[1:], main+": "+module+"/server github.com/ebitengine/purego/internal/x"), nil,
			"github.com/ebitengine/purego/internal/x must not be in the binary: " + main + " -> github.com/ebitengine/purego/internal/x"},
		{"onnxruntime_go", false, append(good[1:], main+": "+module+"/server github.com/yalue/onnxruntime_go"), nil,
			"github.com/yalue/onnxruntime_go must not be in the binary: " + main + " -> github.com/yalue/onnxruntime_go"},
		{"cgo files", true, append(good, "x.org/sqlite: os"), func(g Graph) {
			g[main].Imports = append(g[main].Imports, "x.org/sqlite")
			g[main].Deps = append(g[main].Deps, "x.org/sqlite")
			g["x.org/sqlite"].CgoFiles = []string{"sqlite.go"}
		}, "x.org/sqlite uses cgo (sqlite.go): " + main + " -> x.org/sqlite"},
		{"standard cgo in a CGO_ENABLED=0 listing", false, good, func(g Graph) {
			g["net"].CgoFiles = []string{"cgo_unix.go"}
		}, "net uses cgo (cgo_unix.go): " + main + " -> " + module + "/server -> google.golang.org/grpc -> net"},
		{"package that does not build", false, good, func(g Graph) {
			g[module+"/server"].Error = &PackageError{Err: "build constraints exclude all Go files"}
		}, module + "/server does not build: build constraints exclude all Go files"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := fake(t, tt.lines...)
			if tt.edit != nil {
				tt.edit(g)
			}
			got := CheckStatic(g, main, tt.cgo)
			if !containsLine(got, tt.want) {
				t.Errorf("violations %q lack %q", got, tt.want)
			}
		})
	}
	// The standard library's optional cgo is fine in a CGO_ENABLED=1 listing.
	g := fake(t, good...)
	g["net"].CgoFiles = []string{"cgo_unix.go"}
	if v := CheckStatic(g, main, true); len(v) != 0 {
		t.Errorf("standard cgo flagged with CGO_ENABLED=1: %q", v)
	}
}

func TestLayerOf(t *testing.T) {
	tests := []struct {
		path string
		want string
	}{
		{"api/onnx", "api/onnx"},
		{"api/quantprep/v1", ""},
		{"pipeline", "pipeline"},
		{"pipeline/sym", ""},
		{"pipeline/infer", "pipeline/infer"},
		{"pipeline/infer/ops", "pipeline/infer"},
		{"pipeline/optimize", "pipeline/optimize"},
		{"pipeline/eval", "pipeline/eval"},
		{"pipeline/opset", "pipeline/opset"},
		{"pipeline/opset/opsettest", "pipeline/opset"},
		{"internal/onnxtext", "internal/onnxtext"},
		{"internal/buildinfo", ""},
		{"server", "server"},
		{"serverless", ""},
		{"cmd/quantprep", "cmd"},
		{"client", ""},
	}
	for _, tt := range tests {
		got := ""
		if i := layerOf(module, module+"/"+tt.path); i >= 0 {
			got = Layers[i]
		}
		if got != tt.want {
			t.Errorf("layerOf(%s) = %q, want %q", tt.path, got, tt.want)
		}
	}
}

func containsLine(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}
