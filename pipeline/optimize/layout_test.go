package optimize

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// TestLayout checks the naming scheme of the package's files: every pass of
// the table (passes.go) is the function of its own pass_*.go file and every
// rule (rules.go) the variable of its own rule_*.go file, each with a doc
// comment that says what it rewrites and why that is safe ("Safe"; a pass's
// also gives the name it is registered under); no pass_*.go or rule_*.go
// file holds anything else.
func TestLayout(t *testing.T) {
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	type decl struct {
		file string
		doc  string
	}
	funcs, vars := map[string]decl{}, map[string]decl{}
	var passRows, ruleRows []ast.Expr
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range af.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil {
					funcs[d.Name.Name] = decl{f, d.Doc.Text()}
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					vs, ok := s.(*ast.ValueSpec)
					if !ok || len(vs.Names) != 1 {
						continue
					}
					doc := vs.Doc.Text()
					if doc == "" {
						doc = d.Doc.Text()
					}
					vars[vs.Names[0].Name] = decl{f, doc}
					if len(vs.Values) == 1 {
						if cl, ok := vs.Values[0].(*ast.CompositeLit); ok {
							switch vs.Names[0].Name {
							case "passes":
								passRows = cl.Elts
							case "rules":
								ruleRows = cl.Elts
							}
						}
					}
				}
			}
		}
	}
	if len(passRows) != len(passes) || len(ruleRows) != len(rules) {
		t.Fatalf("found %d pass rows and %d rule rows in the source, want %d and %d: the tables must be literals",
			len(passRows), len(ruleRows), len(passes), len(rules))
	}
	owner := map[string]string{} // file -> what it registers
	claim := func(file, what, prefix string) {
		if !strings.HasPrefix(file, prefix) {
			t.Errorf("%s is in %s, want a file named %s*.go", what, file, prefix)
		}
		if o := owner[file]; o != "" {
			t.Errorf("%s holds both %s and %s: one file each", file, o, what)
		}
		owner[file] = what
	}
	for i, row := range passRows {
		var fn string
		for _, e := range row.(*ast.CompositeLit).Elts {
			if kv, ok := e.(*ast.KeyValueExpr); ok && kv.Key.(*ast.Ident).Name == "run" {
				if id, ok := kv.Value.(*ast.Ident); ok {
					fn = id.Name
				}
			}
		}
		d, ok := funcs[fn]
		if !ok {
			t.Errorf("pass %s: run is not a named function of the package", passes[i].name)
			continue
		}
		what := "pass " + passes[i].name
		claim(d.file, what, "pass_")
		if !strings.Contains(d.doc, "Safe") && !strings.Contains(d.doc, "safe because") {
			t.Errorf("%s: the doc comment of %s does not say why it is safe", what, fn)
		}
		if !strings.Contains(d.doc, fn+` ("`+passes[i].name+`")`) {
			t.Errorf("%s: the doc comment of %s does not begin %s (%q)", what, fn, fn, passes[i].name)
		}
	}
	for i, row := range ruleRows {
		id, ok := row.(*ast.Ident)
		d, found := vars[identName(id, ok)]
		if !ok || !found {
			t.Errorf("rule %s: its row is not a variable of the package", rules[i].name)
			continue
		}
		what := "rule " + rules[i].name
		claim(d.file, what, "rule_")
		if !strings.Contains(d.doc, "Safe") {
			t.Errorf("%s: the doc comment of %s does not say why it is safe", what, id.Name)
		}
	}
	for _, f := range files {
		if (strings.HasPrefix(f, "pass_") || strings.HasPrefix(f, "rule_")) && !strings.HasSuffix(f, "_test.go") && owner[f] == "" {
			t.Errorf("%s registers no pass or rule: name it for what it holds", f)
		}
	}
}

func identName(id *ast.Ident, ok bool) string {
	if !ok {
		return ""
	}
	return id.Name
}
