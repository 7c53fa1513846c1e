package model

import (
	"os"
	"path/filepath"
	"testing"
)

// TestWriteback: the write-out of a file starts once a step of bytes has been
// written since the last start, covering exactly the bytes written, and the
// system call takes the arguments it is given (a wrong one would fail here
// with EINVAL, where Save ignores the error).
func TestWriteback(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "d"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	if err := startWriteback(f, 4096, 1<<19); err != nil {
		t.Fatalf("startWriteback: %v", err)
	}
	w := &writeback{f: f}
	for _, c := range []struct{ end, started int64 }{
		{0, 0},
		{writebackStep - 1, 0},
		{writebackStep, writebackStep},
		{writebackStep + 10, writebackStep},
		{3*writebackStep + 5, 3*writebackStep + 5},
	} {
		w.wrote(c.end)
		if w.started != c.started {
			t.Errorf("after wrote(%d): started %d, want %d", c.end, w.started, c.started)
		}
	}
	var none *writeback
	none.wrote(writebackStep) // a nil writeback does nothing
}
