package server

import (
	"os"

	"go.uber.org/zap"
)

// Abandon removes the spool directories of the requests still in progress,
// for a process about to exit although some of them did not stop (a worker
// stuck past the shutdown timeout): their files must not outlive it. It
// returns how many there were. The server must not be used afterwards.
func (s *Server) Abandon() int {
	n := 0
	s.svc.active.Range(func(k, _ any) bool {
		dir := k.(string)
		if err := os.RemoveAll(dir); err != nil {
			s.log.Error("removing spool directory", zap.String("dir", dir), zap.Error(err))
		}
		n++
		return true
	})
	s.unlockTemp()
	return n
}
