//go:build unix

package server

import (
	"os"
	"path/filepath"
	"syscall"

	"go.uber.org/zap"
)

// claimTempDir removes the request directories (req-*) that a server killed
// before it could clean up (SIGKILL, an out-of-memory kill) left in dir. Each
// server holds a shared flock on dir for its lifetime; only a server that gets
// the lock exclusively, so that no other live server uses dir, removes
// anything. It returns the held lock, released by closing it.
func claimTempDir(dir string, log *zap.Logger) *os.File {
	d, err := os.Open(dir)
	if err != nil {
		log.Warn("temp dir: not cleaned of leftovers", zap.Error(err))
		return nil
	}
	fd := int(d.Fd())
	if err := syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		log.Info("temp dir is in use by another server: leftovers of earlier runs are not removed", zap.String("dir", dir))
	} else {
		removeStale(dir, log)
	}
	// Downgrade to (or take) a shared lock: other servers may share dir.
	if err := syscall.Flock(fd, syscall.LOCK_SH); err != nil {
		log.Warn("temp dir: cannot lock", zap.Error(err))
	}
	return d
}

// removeStale removes dir's req-* entries.
func removeStale(dir string, log *zap.Logger) {
	stale, _ := filepath.Glob(filepath.Join(dir, "req-*"))
	for _, p := range stale {
		if err := os.RemoveAll(p); err != nil {
			log.Warn("removing a leftover request directory", zap.String("dir", p), zap.Error(err))
			continue
		}
		log.Info("removed a leftover request directory of an earlier run", zap.String("dir", p))
	}
}
