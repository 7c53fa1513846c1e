package golden

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const sample = `A comment
over two lines.
-- before --
g (float x) => (float y) { y = Neg (x) }
-- notes --
kept as it is, blank line and all

-- after --
g (float x) => (float y)
{
  y = Neg (x)
}
-- extra --
`

func TestParseRoundTrip(t *testing.T) {
	for _, src := range []string{sample, "", "-- a --\n", "comment only\n", "-- a --\nx\n-- a --\ny\n"} {
		if got := string(Parse([]byte(src)).Bytes()); got != src {
			t.Errorf("Parse(%q).Bytes() = %q", src, got)
		}
	}
	f := Parse([]byte(sample))
	var names []string
	for _, s := range f.Sections {
		names = append(names, s.Name)
	}
	if got := strings.Join(names, ","); got != "before,notes,after,extra" || f.Comment != "A comment\nover two lines.\n" {
		t.Errorf("sections %s, comment %q", got, f.Comment)
	}
}

// TestUpdateKeepsTheRest: -update rewrites only the section a test checks;
// the comment, sections the test does not know and their order stay, and a
// file whose sections all match is not written.
func TestUpdateKeepsTheRest(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "case.txtar")
	if err := os.WriteFile(path, []byte(sample), 0o644); err != nil {
		t.Fatal(err)
	}
	defer func(v bool) { *Update = v }(*Update)
	for _, c := range []struct {
		name, section, got string
		update             bool
		wantErr            bool
		want               string
	}{
		// White space around a body does not count.
		{name: "same", section: "after", got: "g (float x) => (float y)\n{\n  y = Neg (x)\n}", want: sample},
		{name: "differs", section: "after", got: "g () => ()\n{\n}\n", wantErr: true, want: sample},
		{name: "missing", section: "want", got: "x\n", wantErr: true, want: sample},
		{name: "update", section: "after", got: "g () => ()\n{\n}\n", update: true,
			want: strings.Replace(sample, "g (float x) => (float y)\n{\n  y = Neg (x)\n}\n", "g () => ()\n{\n}\n", 1)},
		{name: "update_adds", section: "want", got: "y: float\n", update: true, want: sample + "-- want --\ny: float\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := os.WriteFile(path, []byte(sample), 0o644); err != nil {
				t.Fatal(err)
			}
			*Update = c.update
			f, err := Read(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Check(c.section, c.got); (err != nil) != c.wantErr {
				t.Errorf("Check: %v, want an error: %v", err, c.wantErr)
			}
			if err := f.Save(); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != c.want {
				t.Errorf("file after Check and Save:\n%s\nwant:\n%s", b, c.want)
			}
		})
	}
}
