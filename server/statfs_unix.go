//go:build unix

package server

import "syscall"

// freeSpace is the space available to unprivileged users on dir's file
// system, 0 if unknown.
func freeSpace(dir string) int64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0
	}
	return int64(st.Bavail) * int64(st.Bsize)
}
