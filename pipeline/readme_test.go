package pipeline

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updateReadme = flag.Bool("update", false, "rewrite the README's option table from Table")

// Markers around the README's option table, which this test writes.
const (
	readmeBegin = "<!-- options: generated from pipeline.Table by `go test ./pipeline -run TestReadmeOptions -update`; do not edit -->"
	readmeEnd   = "<!-- end of options -->"
)

// readmeOptions is the README's option table, from Table: each option with
// its default and doc.
func readmeOptions() string {
	var b strings.Builder
	b.WriteString("| option | default | meaning |\n|---|---|---|\n")
	for i := range Table {
		op := &Table[i]
		doc := op.Doc
		if op.Own {
			doc = "quantprep's own: " + doc
		}
		fmt.Fprintf(&b, "| `--%s` | %s | %s |\n", op.Name, op.DefaultText(), strings.ReplaceAll(doc, "|", `\|`))
	}
	return b.String()
}

// TestReadmeOptions: the README's option table is Table's, row for row
// (-update rewrites it).
func TestReadmeOptions(t *testing.T) {
	path := filepath.Join("..", "README.md")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	i, j := strings.Index(readme, readmeBegin), strings.Index(readme, readmeEnd)
	if i < 0 || j < i {
		t.Fatalf("README.md has no %q ... %q block", readmeBegin, readmeEnd)
	}
	i += len(readmeBegin) + 1
	want := readmeOptions()
	if readme[i:j] == want {
		return
	}
	if *updateReadme {
		if err := os.WriteFile(path, []byte(readme[:i]+want+readme[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("README.md's option table is not Table's (go test ./pipeline -run TestReadmeOptions -update); it should read:\n%s", want)
}
