package client

import (
	"os"
	"syscall"
)

// startWriteback starts writing n bytes of f from off to disk without waiting
// for them (sync_file_range, SYNC_FILE_RANGE_WRITE). The main module's save
// does the same (pipeline/model/writeback*.go); this module depends on api/
// only, so it has its own three lines of system call.
func startWriteback(f *os.File, off, n int64) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		// An error changes nothing: the Sync before the rename reports real
		// write errors.
		_ = syscall.SyncFileRange(int(fd), off, n, 0x2 /* SYNC_FILE_RANGE_WRITE */)
	})
}
