package model

import "os"

// writebackStep is how many bytes Save writes to a file between two starts
// of their write-out to disk. Here (a virtual disk) 64 MiB steps left the
// closing fsync of 2 GB 0.1 to 0.2 s of waiting, against 2.2 to 2.9 s
// without them; 16 MiB steps did no better.
const writebackStep = 64 << 20

// writeback starts the disk writes of a file that Save is writing while it
// writes the rest, so that the fsync that closes the file (closeSynced: no
// file is renamed into place before its bytes are durable) waits for the last
// few megabytes instead of the whole file. Without it the kernel starts
// writing only once a tenth of memory is dirty, and the fsync of GPT-2
// large's 3.3 GB of data waited 5 s for the disk after the bytes were all
// written. It changes no byte of the output and no guarantee: the fsync still
// comes, and reports any write error. Where the system has no such call it
// does nothing.
type writeback struct {
	f       *os.File
	started int64 // f's bytes from 0 whose write-out has been started
}

// writeback returns f's writeback, or nil when the save does not sync: then
// starting its disk writes early would only spend the disk's time.
func (s *saver) writeback(f *os.File) *writeback {
	if !s.opt.Sync {
		return nil
	}
	return &writeback{f: f}
}

// wrote tells w that its file now holds end bytes; once writebackStep of
// them wait, their write-out starts (asynchronously).
func (w *writeback) wrote(end int64) {
	if w == nil || end-w.started < writebackStep {
		return
	}
	// An error here changes nothing: the fsync reports real write errors.
	startWriteback(w.f, w.started, end-w.started)
	w.started = end
}
