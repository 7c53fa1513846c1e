package model

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Copying tensor data to the output without holding it.

// streamMin is the size from which Save writes a tensor's raw data from
// where it lies (a mapped model file, an external or spilled file, memory)
// instead of serializing the tensor into a buffer first.
const streamMin = 64 << 10

// dataSource is where the bytes of one tensor's data are.
type dataSource struct {
	mem  []byte   // in memory; or
	f    *os.File // in a file, at off, n bytes
	path string   // the file's path, to open it when f is nil
	off  int64
	n    int64
	gen  func(io.Writer) error // or produced on demand (WriteData)
}

// sourceOf returns where raw's bytes can be copied from: the model file
// when raw is a view Load left in the mapping (copied by the kernel, file to
// file, without faulting the mapping in), else memory.
func (m *Model) sourceOf(raw []byte) dataSource {
	if v, ok := m.viewOf(raw); ok {
		return dataSource{f: v.src.f, off: v.off, n: v.n}
	}
	return dataSource{mem: raw, n: int64(len(raw))}
}

// openSource returns the open file of a source given by path, opened once
// per save and closed by closeSources.
func (s *saver) openSource(ds dataSource, tensorName string) (*os.File, error) {
	if ds.f != nil || ds.path == "" {
		return ds.f, nil
	}
	if f := s.srcFiles[ds.path]; f != nil {
		return f, nil
	}
	f, err := os.Open(ds.path)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", tensorName, err)
	}
	if s.srcFiles == nil {
		s.srcFiles = map[string]*os.File{}
	}
	s.srcFiles[ds.path] = f
	return f, nil
}

func (s *saver) closeSources() {
	for _, f := range s.srcFiles {
		f.Close()
	}
	s.srcFiles = nil
}

// copyData writes the bytes of ds to w at its current offset, telling wb
// (which may be nil) as they land. From a file it goes through
// os.File.ReadFrom, which copies inside the kernel (copy_file_range, else
// splice or sendfile) where the system allows and falls back to a buffered
// copy elsewhere.
func (s *saver) copyData(w *os.File, wb *writeback, ds dataSource, tensorName string) error {
	var base int64
	if wb != nil {
		var err error
		if base, err = w.Seek(0, io.SeekCurrent); err != nil {
			return err
		}
	}
	if ds.gen != nil {
		cw := &countingWriter{w: w}
		if wb != nil {
			cw.after = func(n int64) { wb.wrote(base + n) }
		}
		if err := ds.gen(cw); err != nil {
			return err
		}
		if cw.n != ds.n {
			return fmt.Errorf("%d bytes of data produced, %d expected", cw.n, ds.n)
		}
		return nil
	}
	if ds.f == nil && ds.path == "" {
		_, err := w.Write(ds.mem)
		if err == nil {
			wb.wrote(base + ds.n)
		}
		return err
	}
	f, err := s.openSource(ds, tensorName)
	if err != nil {
		return err
	}
	// Seek and LimitReader rather than a SectionReader: os.File.ReadFrom
	// recognizes only a file, or a file behind a LimitReader.
	n, err := f.Seek(ds.off, io.SeekStart)
	if err == nil {
		n, err = io.Copy(w, io.LimitReader(f, ds.n))
	}
	if err == nil && n != ds.n {
		err = fmt.Errorf("%s ended after %d of %d bytes", filepath.Base(f.Name()), n, ds.n)
	}
	if err == nil {
		wb.wrote(base + n)
	}
	return err
}
