package client

import (
	"os"
	"path/filepath"
	"testing"
)

// TestOutputWriteback: a response file's disk write-out starts every
// writebackStep bytes while it arrives, and commit leaves the whole file in
// place, synced, with no temporary left beside it.
func TestOutputWriteback(t *testing.T) {
	dir := t.TempDir()
	o := newOutput(filepath.Join(dir, "m.onnx"))
	chunk := make([]byte, 1<<20)
	var total int64
	for total <= writebackStep {
		if err := o.write("", chunk); err != nil {
			t.Fatal(err)
		}
		total += int64(len(chunk))
	}
	if o.started[""] != writebackStep {
		t.Errorf("write-out started up to %d bytes, want %d", o.started[""], writebackStep)
	}
	if err := o.write("m.data", []byte("data")); err != nil {
		t.Fatal(err)
	}
	if o.started["m.data"] != 0 {
		t.Errorf("a 4-byte file started its write-out early")
	}
	if err := o.commit(); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]int64{"m.onnx": total, "m.data": 4} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
		} else if fi.Size() != want {
			t.Errorf("%s: size %d, want %d", name, fi.Size(), want)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Errorf("directory holds %d entries, want the 2 outputs only", len(ents))
	}
}
