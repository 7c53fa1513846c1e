package server

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// linkOpenFile makes p a hard link of the open file f: through /proc/self/fd,
// so that the link is of the file the os.Root opened, not of whatever its name
// leads to now. It fails across file systems, without /proc, or where the
// kernel's protected_hardlinks refuses a file of another user; the caller
// copies then.
func linkOpenFile(f *os.File, p string) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var lerr error
	if err := rc.Control(func(fd uintptr) {
		lerr = unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(int(fd)), unix.AT_FDCWD, p, unix.AT_SYMLINK_FOLLOW)
	}); err != nil {
		return err
	}
	return lerr
}

// linkInto makes name, a plain file name, in the open directory d a hard link
// of the file at src. The directory is the one d was opened on, whatever its
// path leads to now; an existing name (a link included) fails.
func linkInto(src string, d *os.File, name string) error {
	rc, err := d.SyscallConn()
	if err != nil {
		return err
	}
	var lerr error
	if err := rc.Control(func(fd uintptr) {
		lerr = unix.Linkat(unix.AT_FDCWD, src, int(fd), name, 0)
	}); err != nil {
		return err
	}
	return lerr
}
