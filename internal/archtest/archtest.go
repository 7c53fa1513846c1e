// Package archtest enforces the module's dependency rules, read from `go list`:
// which way imports point between the layers (cmd/quantprep → server →
// pipeline → pipeline/optimize → pipeline/infer → pipeline/eval →
// pipeline/opset → pipeline/model → pipeline/tensor → internal/onnxtext → api/onnx), that every
// other package of the module is listed in Outside with the rule that holds it
// (the standard library only, or imported by nothing), that nothing in
// pipeline knows gRPC, zap or the service API, that client
// needs only api/ (and its own subpackages), and that the product binary has no cgo in it. The rules live
// here as data and a pure Check function so that the tests can feed them fake
// import graphs and see them fail.
package archtest

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Package is the part of `go list -json` output the rules read.
type Package struct {
	ImportPath string
	Standard   bool
	// Imports are the direct imports, Deps the whole closure, both without the
	// package itself.
	Imports  []string
	Deps     []string
	CgoFiles []string
	Error    *PackageError
}

// PackageError is a `go list -e` error of one package.
type PackageError struct {
	Err string
}

// Graph is a `go list -deps` result, keyed by import path.
type Graph map[string]*Package

// Layers are the module's layers, lowest first, as paths relative to the module.
// A package belongs to the last layer that is its path or a parent of it, except
// "pipeline", which is the root package only: its other subpackages (sym) sit
// outside the order, listed in Outside, and a new one must be listed in one or
// the other. A layered package may depend only on packages of its own layer or
// lower ones.
var Layers = []string{
	"api/onnx",
	"internal/onnxtext",
	"pipeline/tensor",
	"pipeline/model",
	"pipeline/opset",
	"pipeline/eval",
	"pipeline/infer",
	"pipeline/optimize",
	"pipeline",
	"server",
	"cmd",
}

// Outside are the module's packages outside the layer order, each with the
// rule that holds it instead (a path covers its subpackages). Every package
// of the module is in a layer or here: Check reports one that is in neither,
// so that a new package cannot escape the rules by not being listed.
var Outside = map[string]string{
	"pipeline/sym":        StdlibOnly,
	"internal/buildinfo":  StdlibOnly,
	"internal/golden":     StdlibOnly,
	"internal/float16":    StdlibOnly,
	"api/quantprep":       "the service API: nothing in pipeline may use it",
	"client":              "may use only api/...",
	"internal/archtest":   Top,
	"internal/crosscheck": Top,
	"bench":               Top,
	"e2e":                 Top,
	"deploy":              Top,
}

// The rules of Outside that Check enforces by name.
const (
	// StdlibOnly packages need only the standard library.
	StdlibOnly = "needs only the standard library"
	// Top packages are tests and tools that no package imports.
	Top = "tests and tools: no package imports it"
)

// outsideOf returns the entry of Outside that p is under (the longest), or "".
func outsideOf(module, p string) string {
	best := ""
	for o := range Outside {
		if under(p, module+"/"+o) && len(o) > len(best) {
			best = o
		}
	}
	return best
}

// pipelineBanned are what no package of pipeline/... may depend on: transport,
// logging and the service API belong to server and cmd.
var pipelineBanned = []string{
	"google.golang.org/grpc",
	"go.uber.org/zap",
	"{module}/api/quantprep",
	"{module}/server",
	"{module}/client",
	"{module}/cmd",
}

// cgoBanned are modules that load native code without cgo or need cgo; the
// product binary must contain none of them.
var cgoBanned = []string{
	"runtime/cgo",
	"github.com/ebitengine/purego",
	"github.com/yalue/onnxruntime_go",
}

// Binary is the product's main package, relative to the module.
const Binary = "cmd/quantprep"

// under reports whether path is root or inside it.
func under(path, root string) bool {
	return path == root || strings.HasPrefix(path, root+"/")
}

// layerOf returns the index of p's layer in Layers, or -1.
func layerOf(module, p string) int {
	best := -1
	for i, l := range Layers {
		full := module + "/" + l
		if l == "pipeline" {
			if p == full {
				best = i
			}
			continue
		}
		if under(p, full) && (best < 0 || len(Layers[i]) > len(Layers[best])) {
			best = i
		}
	}
	return best
}

// Chain returns an import path from one package to another, through direct
// imports, for error messages ("a -> b -> c"); just "from -> to" if g lacks it.
func (g Graph) Chain(from, to string) string {
	prev := map[string]string{from: ""}
	queue := []string{from}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		if cur == to {
			var path []string
			for p := to; p != ""; p = prev[p] {
				path = append(path, p)
			}
			for i, j := 0, len(path)-1; i < j; i, j = i+1, j-1 {
				path[i], path[j] = path[j], path[i]
			}
			return strings.Join(path, " -> ")
		}
		if pkg := g[cur]; pkg != nil {
			for _, imp := range pkg.Imports {
				if _, seen := prev[imp]; !seen {
					prev[imp] = cur
					queue = append(queue, imp)
				}
			}
		}
	}
	return from + " -> " + to
}

// Check applies the import rules to the module's packages in g (a listing of
// the product build, CGO_ENABLED=0) and returns one line per violation, sorted.
func Check(module string, g Graph) []string {
	var out []string
	bad := func(format string, a ...any) { out = append(out, fmt.Sprintf(format, a...)) }
	rel := func(p string) string { return strings.TrimPrefix(p, module+"/") }
	for path, p := range g {
		if !under(path, module) {
			continue
		}
		if under(path, module+"/pipeline") {
			for _, d := range p.Deps {
				for _, b := range pipelineBanned {
					if under(d, strings.ReplaceAll(b, "{module}", module)) {
						bad("%s must not depend on %s: %s", rel(path), d, g.Chain(path, d))
					}
				}
			}
		}
		li, out := layerOf(module, path), outsideOf(module, path)
		if li < 0 && out == "" && !p.Standard {
			bad("%s is in no layer: add it to archtest.Layers, or to archtest.Outside with the rule that holds it", rel(path))
		}
		if out != "" && Outside[out] == Top {
			for _, q := range g {
				if slices.Contains(q.Imports, path) {
					bad("%s must not be imported (%s), but %s imports it", rel(path), Top, rel(q.ImportPath))
				}
			}
		}
		if out != "" && Outside[out] == StdlibOnly {
			for _, d := range p.Deps {
				if dp := g[d]; dp == nil || !dp.Standard {
					bad("%s must use only the standard library, not %s: %s", rel(path), d, g.Chain(path, d))
				}
			}
		}
		if under(path, module+"/client") {
			for _, d := range p.Deps {
				// The client module's own packages (client/tlsfiles) are its.
				if under(d, module) && !under(d, module+"/api") && !under(d, module+"/client") {
					bad("%s may use only %s/api/..., not %s: %s", rel(path), module, d, g.Chain(path, d))
				}
			}
		}
		if li >= 0 {
			for _, d := range p.Deps {
				if ld := layerOf(module, d); ld > li {
					bad("%s (layer %s) must not depend on the higher layer %s: %s", rel(path), Layers[li], Layers[ld], g.Chain(path, d))
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// CheckStatic returns one line per reason the package main's closure in g
// cannot be a static, cgo-free binary: runtime/cgo, a package with cgo files,
// purego or onnxruntime_go in it, or a package that does not build. With
// cgoEnabled (a listing made with CGO_ENABLED=1), the standard library's own
// optional cgo (net, os/user, runtime/cgo) is allowed, since CGO_ENABLED=0
// replaces it with pure Go; any other package with cgo files is not.
func CheckStatic(g Graph, main string, cgoEnabled bool) []string {
	var out []string
	bad := func(format string, a ...any) { out = append(out, fmt.Sprintf(format, a...)) }
	m := g[main]
	if m == nil {
		return []string{main + " is not in the listing"}
	}
	for _, path := range append([]string{main}, m.Deps...) {
		p := g[path]
		if p == nil {
			bad("%s: missing from the listing", path)
			continue
		}
		if p.Error != nil {
			bad("%s does not build: %s", path, p.Error.Err)
		}
		if cgoEnabled && p.Standard {
			continue
		}
		for _, b := range cgoBanned {
			if under(path, b) {
				bad("%s must not be in the binary: %s", path, g.Chain(main, path))
			}
		}
		if len(p.CgoFiles) > 0 {
			bad("%s uses cgo (%s): %s", path, strings.Join(p.CgoFiles, ", "), g.Chain(main, path))
		}
	}
	sort.Strings(out)
	return out
}
