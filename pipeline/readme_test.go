package pipeline

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updateReadme = flag.Bool("update", false, "rewrite the README's option tables from Table")

// readmeRow writes a README table row; cells may not hold a bare "|".
func readmeRow(cells ...string) string {
	for i, c := range cells {
		cells[i] = strings.ReplaceAll(c, "|", `\|`)
	}
	return "| " + strings.Join(cells, " | ") + " |\n"
}

// readmeOptions is the README's table of preprocess's options, from Table:
// each option with its default and doc.
func readmeOptions() string {
	var b strings.Builder
	b.WriteString("| option | default | meaning |\n|---|---|---|\n")
	for i := range Table {
		op := &Table[i]
		doc := op.Doc
		if op.Own {
			doc = "quantprep's own: " + doc
		}
		b.WriteString(readmeRow(fmt.Sprintf("`--%s`", op.Name), op.DefaultText(), doc))
	}
	return b.String()
}

// readmeServeBudgets is the README's table of serve's budget flags, each
// with its environment variable (serve's QUANTPREP_ + the name in capitals).
func readmeServeBudgets() string {
	var b strings.Builder
	b.WriteString("| flag | environment | default | meaning |\n|---|---|---|---|\n")
	for i := range Table {
		if op := &Table[i]; op.Ceiling > 0 {
			b.WriteString(readmeRow(fmt.Sprintf("`--%s`", op.Name), fmt.Sprintf("`QUANTPREP_%s`", strings.ToUpper(op.Name)),
				op.DefaultText(), op.Doc))
		}
	}
	return b.String()
}

// TestReadmeOptions: the README's option tables are Table's, row for row
// (-update rewrites them).
func TestReadmeOptions(t *testing.T) {
	path := filepath.Join("..", "README.md")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	changed := false
	for _, block := range []struct {
		what string
		text func() string
	}{{"options", readmeOptions}, {"serve budgets", readmeServeBudgets}} {
		begin := "<!-- " + block.what + ": generated from pipeline.Table by `go test ./pipeline -run TestReadmeOptions -update`; do not edit -->\n"
		end := "<!-- end of " + block.what + " -->"
		i, j := strings.Index(readme, begin), strings.Index(readme, end)
		if i < 0 || j < i {
			t.Fatalf("README.md has no %q ... %q block", begin, end)
		}
		i += len(begin)
		if want := block.text(); readme[i:j] != want {
			if !*updateReadme {
				t.Errorf("README.md's %s table is not Table's (go test ./pipeline -run TestReadmeOptions -update); it should read:\n%s", block.what, want)
			}
			readme, changed = readme[:i]+want+readme[j:], true
		}
	}
	if changed && *updateReadme {
		if err := os.WriteFile(path, []byte(readme), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
