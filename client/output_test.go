package client

import (
	"os"
	"path/filepath"
	"testing"
)

// TestOutputWriteback: with sync (the fsync option), a response file's disk
// write-out starts every writebackStep bytes while it arrives; without, it
// never starts early. Either way commit leaves the whole files in place with
// no temporary beside them.
func TestOutputWriteback(t *testing.T) {
	for _, sync := range []bool{true, false} {
		dir := t.TempDir()
		o := newOutput(filepath.Join(dir, "m.onnx"), sync)
		chunk := make([]byte, 1<<20)
		var total int64
		for total <= writebackStep {
			if err := o.write("", chunk); err != nil {
				t.Fatal(err)
			}
			total += int64(len(chunk))
		}
		want := int64(0)
		if sync {
			want = writebackStep
		}
		if o.started[""] != want {
			t.Errorf("sync=%v: write-out started up to %d bytes, want %d", sync, o.started[""], want)
		}
		if err := o.write("m.data", []byte("data")); err != nil {
			t.Fatal(err)
		}
		if o.started["m.data"] != 0 {
			t.Errorf("sync=%v: a 4-byte file started its write-out early", sync)
		}
		if err := o.commit(); err != nil {
			t.Fatal(err)
		}
		for name, want := range map[string]int64{"m.onnx": total, "m.data": 4} {
			fi, err := os.Stat(filepath.Join(dir, name))
			if err != nil {
				t.Errorf("sync=%v: %s: %v", sync, name, err)
			} else if fi.Size() != want {
				t.Errorf("sync=%v: %s: size %d, want %d", sync, name, fi.Size(), want)
			}
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 2 {
			t.Errorf("sync=%v: directory holds %d entries, want the 2 outputs only", sync, len(ents))
		}
	}
}
