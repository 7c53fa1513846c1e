//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package model

import (
	"errors"
	"os"
	"syscall"
)

// mapFile maps the first size bytes of f, copy-on-write and private
// (MAP_PRIVATE): the process sees the file's bytes without reading them into
// its own memory, and nothing it does can change the file. The mapping is
// writable so that a stray write into a weight (a bug) costs one private page
// instead of a crash; no code of quantprep writes into raw_data.
//
// A known hazard of every mapping: if another process truncates the file
// while it is mapped, reading the lost pages raises SIGBUS. Pages that another
// process rewrites in place may show the new bytes. quantprep therefore maps
// only files it reads once, start to end, in one run: a user's model in the
// CLI, and the server's private spool (which no one else can write).
func mapFile(f *os.File, size int64) ([]byte, func() error, error) {
	if size <= 0 || int64(int(size)) != size {
		return nil, nil, errors.New("cannot map an empty or oversized file")
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE)
	if err != nil {
		return nil, nil, err
	}
	return b, func() error { return syscall.Munmap(b) }, nil
}

// mapSection maps n bytes of f from off (which need not be page-aligned),
// like mapFile.
func mapSection(f *os.File, off, n int64) ([]byte, func() error, error) {
	page := int64(os.Getpagesize())
	start := off - off%page
	length := n + off - start
	if n <= 0 || int64(int(length)) != length {
		return nil, nil, errors.New("cannot map an empty or oversized section")
	}
	b, err := syscall.Mmap(int(f.Fd()), start, int(length), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE)
	if err != nil {
		return nil, nil, err
	}
	return b[off-start:], func() error { return syscall.Munmap(b) }, nil
}
