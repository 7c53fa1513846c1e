package infer

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/quantprep/quantprep/pipeline/model"
)

// TestCoverage checks that every operator version in onnx_schemas.tsv has a
// registry entry (the newest one with Since <= that version) or is listed in
// unsupported.go, and that unsupported.go lists nothing that is registered.
func TestCoverage(t *testing.T) {
	f, err := os.Open("testdata/onnx_schemas.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	seen := map[string]bool{}
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		p := strings.Split(line, "\t")
		if len(p) != 3 {
			t.Fatalf("bad line %q", line)
		}
		domain := model.NormDomain(p[0])
		since, err := strconv.ParseInt(p[2], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		key := domain + ":" + p[1]
		seen[key] = true
		if _, ok := unsupported[key]; ok {
			continue
		}
		if lookup(domain, p[1], since) == nil {
			t.Errorf("%s version %d: no registry entry and not in unsupported.go", key, since)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for key := range unsupported {
		d, n, _ := strings.Cut(key, ":")
		if len(registry[d+":"+n]) > 0 {
			t.Errorf("%s is registered and listed in unsupported.go", key)
		}
		if !seen[key] {
			t.Errorf("%s in unsupported.go is not in onnx_schemas.tsv", key)
		}
	}
}
