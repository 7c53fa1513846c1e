package client

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// readCounter counts the bytes its reader hands out, seekable or not.
type readCounter struct {
	io.Reader
	n int
}

func (r *readCounter) Read(p []byte) (int, error) {
	n, err := r.Reader.Read(p)
	r.n += n
	return n, err
}

type seekCounter struct {
	readCounter
	io.Seeker
}

func (r *seekCounter) Read(p []byte) (int, error) { return r.readCounter.Read(p) }

// TestSkipReader checks that Discard skips what the buffer does not hold by
// seeking where the source can seek, reads the same bytes afterwards as a
// plain buffered reader, and fails past the end.
func TestSkipReader(t *testing.T) {
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	file := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	const buf = 4096
	for _, c := range []struct {
		name     string
		skips    []int // discard each, then read one byte
		wantErr  bool
		maxRead  int // bytes the source may hand out when seeking; 0: no bound
		seekable bool
	}{
		{name: "within the buffer", skips: []int{10, 100, 1000}, seekable: true, maxRead: 2 * buf},
		{name: "past the buffer", skips: []int{10, 500_000, 300_000}, seekable: true, maxRead: 4 * buf},
		{name: "to the last byte", skips: []int{len(data) - 1}, seekable: true, maxRead: 2 * buf},
		{name: "past the end", skips: []int{10, len(data)}, seekable: true, wantErr: true},
		{name: "pipe past the buffer", skips: []int{10, 500_000, 300_000}},
		{name: "pipe past the end", skips: []int{len(data) + 1}, wantErr: true},
	} {
		for _, src := range []string{"bytes", "file"} {
			t.Run(c.name+"/"+src, func(t *testing.T) {
				var r io.Reader
				var counted *readCounter
				switch {
				case !c.seekable:
					counted = &readCounter{Reader: bytes.NewReader(data)}
					r = counted
				case src == "bytes":
					br := bytes.NewReader(data)
					sc := &seekCounter{readCounter{Reader: br}, br}
					counted, r = &sc.readCounter, sc
				default:
					f, err := os.Open(file)
					if err != nil {
						t.Fatal(err)
					}
					defer f.Close()
					sc := &seekCounter{readCounter{Reader: f}, f}
					counted, r = &sc.readCounter, sc
				}
				s := NewSkipReader(r, buf)
				pos := 0
				var err error
				for _, k := range c.skips {
					var n int
					n, err = s.Discard(k)
					if err != nil {
						break
					}
					if n != k {
						t.Fatalf("Discard(%d) = %d", k, n)
					}
					pos += k
					b, rerr := s.ReadByte()
					if rerr != nil {
						t.Fatalf("ReadByte at %d: %v", pos, rerr)
					}
					if b != data[pos] {
						t.Fatalf("byte at %d = %d, want %d", pos, b, data[pos])
					}
					pos++
				}
				if c.wantErr != (err != nil) {
					t.Fatalf("error = %v, want one: %v", err, c.wantErr)
				}
				if err != nil && !errors.Is(err, io.EOF) {
					t.Errorf("error = %v, want io.EOF", err)
				}
				if c.maxRead > 0 && counted.n > c.maxRead {
					t.Errorf("read %d bytes of the source, want at most %d: Discard did not seek", counted.n, c.maxRead)
				}
			})
		}
	}
}
