// Package golden reads and writes the golden files of the module's tests:
// txtar archives (a comment, then "-- name --" sections) whose sections hold
// a model in ONNX's text syntax and what a step makes of it. A test checks
// the sections it owns against what the code computes; under -update it
// rewrites those sections and keeps everything else in the file as it was:
// the comment, sections it does not know, their order and bytes.
package golden

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

// Update is the -update flag of every test binary that uses golden files:
// rewrite the sections the tests own from what the code does.
var Update = flag.Bool("update", false, "rewrite the golden sections the tests own from what the code does")

// Section is one "-- name --" part of a file; Body keeps its bytes.
type Section struct {
	Name string
	Body string
}

// File is a parsed golden file.
type File struct {
	// Path is where Save writes; empty for a file from Parse.
	Path     string
	Comment  string
	Sections []Section
	changed  bool
}

// Read parses the golden file at path.
func Read(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f := Parse(b)
	f.Path = path
	return f, nil
}

// Parse splits a txtar archive: the text before the first "-- name --" line
// is the comment, each such line starts a section.
func Parse(b []byte) *File {
	f := &File{}
	var sb strings.Builder
	cur := -1
	flush := func() {
		if cur < 0 {
			f.Comment = sb.String()
		} else {
			f.Sections[cur].Body = sb.String()
		}
		sb.Reset()
	}
	for _, l := range strings.SplitAfter(string(b), "\n") {
		t := strings.TrimRight(l, "\r\n")
		if strings.HasPrefix(t, "-- ") && strings.HasSuffix(t, " --") && len(t) > 6 {
			flush()
			f.Sections = append(f.Sections, Section{Name: strings.TrimSpace(t[3 : len(t)-3])})
			cur = len(f.Sections) - 1
			continue
		}
		sb.WriteString(l)
	}
	flush()
	return f
}

// Bytes formats f; Parse(b).Bytes() is b for every b whose sections end
// with a newline.
func (f *File) Bytes() []byte {
	var b strings.Builder
	b.WriteString(f.Comment)
	if f.Comment != "" && !strings.HasSuffix(f.Comment, "\n") {
		b.WriteByte('\n')
	}
	for _, s := range f.Sections {
		fmt.Fprintf(&b, "-- %s --\n", s.Name)
		b.WriteString(s.Body)
		if s.Body != "" && !strings.HasSuffix(s.Body, "\n") {
			b.WriteByte('\n')
		}
	}
	return []byte(b.String())
}

// Get returns the body of the first section named name.
func (f *File) Get(name string) (string, bool) {
	for _, s := range f.Sections {
		if s.Name == name {
			return s.Body, true
		}
	}
	return "", false
}

// same reports whether two bodies say the same: leading and trailing white
// space (the blank lines between sections) does not count.
func same(a, b string) bool { return strings.TrimSpace(a) == strings.TrimSpace(b) }

// Set makes the first section named name hold body (appending a section if
// there is none), unless it says the same already; every other section
// stays as it is.
func (f *File) Set(name, body string) {
	body = strings.TrimRight(body, "\n") + "\n"
	for i, s := range f.Sections {
		if s.Name == name {
			if !same(s.Body, body) {
				f.Sections[i].Body = body
				f.changed = true
			}
			return
		}
	}
	f.Sections = append(f.Sections, Section{Name: name, Body: body})
	f.changed = true
}

// Check compares got with the section name. Under -update it sets the
// section instead (Save writes the file); otherwise a difference, or a
// missing section, is an error showing both.
func (f *File) Check(name, got string) error {
	if *Update {
		f.Set(name, got)
		return nil
	}
	want, ok := f.Get(name)
	if !ok {
		return fmt.Errorf("%s: no -- %s -- section (run the test with -update to write it)", f.Path, name)
	}
	if !same(got, want) {
		return fmt.Errorf("%s: -- %s --: got\n%s\nwant\n%s", f.Path, name, got, want)
	}
	return nil
}

// Save writes f back to its path if Check or Set changed it.
func (f *File) Save() error {
	if !f.changed {
		return nil
	}
	if f.Path == "" {
		return fmt.Errorf("golden: a parsed file has no path to save to")
	}
	if err := os.WriteFile(f.Path, f.Bytes(), 0o644); err != nil {
		return err
	}
	f.changed = false
	return nil
}
