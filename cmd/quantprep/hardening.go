package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	quantprepv1 "github.com/quantprep/quantprep/api/quantprep/v1"
	"github.com/quantprep/quantprep/pipeline/model"
	"github.com/quantprep/quantprep/server"
)

// exitInternal is the exit code of a failure that is quantprep's fault, not
// the input's: a recovered panic, or INTERNAL from the server. (A Go runtime
// fatal error, such as running out of memory, exits 2 with "fatal error:" on
// stderr: the runtime picks that code. The pipeline's budgets exist so that
// no input gets there.)
const exitInternal = 3

// internalError marks a failure that exits with exitInternal.
type internalError struct{ err error }

func (e internalError) Error() string { return "internal error: " + e.err.Error() }
func (e internalError) Unwrap() error { return e.err }

// isInternal reports whether err is quantprep's own failure.
func isInternal(err error) bool {
	var ie internalError
	if errors.As(err, &ie) || errors.Is(err, model.ErrInternal) {
		return true
	}
	st, ok := status.FromError(err)
	return ok && st.Code() == codes.Internal
}

// serveLimits are the serve flags of server.Limits.
type serveLimits struct {
	diskQuota, diskBudget, memBudget byteSize
}

// addLimitFlags adds the flags of server.Limits to fl.
func addLimitFlags(fl *pflag.FlagSet, l *server.Limits, s *serveLimits) {
	fl.DurationVar(&l.IdleTimeout, "idle_timeout", server.DefaultIdleTimeout, "longest wait for the next message of an upload; past it the request fails with DEADLINE_EXCEEDED")
	fl.DurationVar(&l.SendTimeout, "send_timeout", server.DefaultSendTimeout, "longest a response message may wait for a client that does not read; past it the request is cut off")
	fl.IntVar(&l.MaxStreamsPerConn, "max_streams_per_conn", 0, "requests open at once on one connection (default: workers+queue_size)")
	fl.IntVar(&l.MaxStreamsPerPeer, "max_streams_per_peer", 0, "requests open at once from one client address (default: workers+queue_size; raise it behind a proxy)")
	fl.Var(&s.diskQuota, "request_disk_quota", fmt.Sprintf("bytes one request may write: upload, spilled weights and output (default: %d*max_upload_bytes)", server.DefaultDiskQuotaFactor))
	fl.Var(&s.diskBudget, "disk_budget", "bytes all requests may hold in temp_dir at once (default: 80% of its free space at start)")
	fl.Var(&s.memBudget, "memory_budget", "memory the running requests may be estimated to need at once (default: 3/4 of the memory limit)")
}

// checkServeFlags refuses negative counts and durations: they used to be
// replaced by defaults silently.
func checkServeFlags(f *serveFlags, s *serveLimits) error {
	for _, c := range []struct {
		name string
		v    int
	}{{"workers", f.cfg.Workers}, {"queue_size", f.cfg.QueueSize}, {"max_streams", f.cfg.MaxStreams},
		{"max_streams_per_conn", f.cfg.MaxStreamsPerConn}, {"max_streams_per_peer", f.cfg.MaxStreamsPerPeer}} {
		if c.v < 0 {
			return usagef("--%s: must not be negative, got %d", c.name, c.v)
		}
	}
	for _, c := range []struct {
		name string
		v    time.Duration
	}{{"idle_timeout", f.cfg.IdleTimeout}, {"send_timeout", f.cfg.SendTimeout}, {"shutdown_timeout", f.shutdownTimeout}} {
		if c.v < 0 {
			return usagef("--%s: must not be negative, got %v", c.name, c.v)
		}
	}
	f.cfg.RequestDiskQuota, f.cfg.DiskBudget, f.cfg.MemoryBudget = int64(s.diskQuota), int64(s.diskBudget), int64(s.memBudget)
	return nil
}

// checkInOut refuses an output that is the input: the input would be gone
// before the output is complete (and with external data, half of it).
func checkInOut(in, out string) error {
	ai, err1 := filepath.Abs(in)
	ao, err2 := filepath.Abs(out)
	if err1 == nil && err2 == nil && ai == ao {
		return usagef("preprocess: --output is --input (%s): write to another file", in)
	}
	si, err1 := os.Stat(in)
	so, err2 := os.Stat(out)
	if err1 == nil && err2 == nil && os.SameFile(si, so) {
		return usagef("preprocess: --output %s is the same file as --input %s: write to another file", out, in)
	}
	return nil
}

// spillPrefix starts the directories where the pipeline spills computed
// weights, beside the output (pipeline/model.EnableSpill).
const spillPrefix = ".quantprep-spill-"

// leftovers lists dir's spill directories and the temporary files of a save
// of base: what a run killed before it could clean up leaves behind.
func leftovers(dir, base string) map[string]bool {
	found := map[string]bool{}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		n := e.Name()
		if strings.HasPrefix(n, spillPrefix) || strings.HasPrefix(n, "."+base+".tmp") {
			found[filepath.Join(dir, n)] = true
		}
	}
	return found
}

// stopGrace is how long an interrupted pipeline may take to stop and remove
// its files before the command removes them itself and exits.
var stopGrace = 5 * time.Second

// runLocal is the in-process run; tests replace it with one that ignores its
// context.
var runLocal = preprocessLocal

// preprocessLocalGuarded is preprocessLocal run so that every way out the
// command controls removes the run's temporary files: a panic is recovered
// (the pipeline's deferred cleanup has run by then) and reported as an
// internal error; on a signal the pipeline gets stopGrace to return, after
// which the files it made are removed here. Leftovers of an earlier run
// that was killed are named in a warning, not touched: another run may own them.
func preprocessLocalGuarded(ctx context.Context, in, out string, opts *quantprepv1.Options, show *progress, stderr io.Writer) (*quantprepv1.Summary, error) {
	dir, base := filepath.Dir(out), filepath.Base(out)
	before := leftovers(dir, base)
	for p := range before {
		fmt.Fprintf(stderr, "quantprep: warning: %s is left over from an earlier run that did not finish (killed?); remove it unless another quantprep is writing to %s\n", p, dir)
	}
	type result struct {
		sum *quantprepv1.Summary
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				fmt.Fprintf(stderr, "quantprep: panic: %v\n%s", r, debug.Stack())
				done <- result{err: internalError{fmt.Errorf("the pipeline panicked: %v", r)}}
			}
		}()
		sum, err := runLocal(ctx, in, out, opts, show)
		done <- result{sum, err}
	}()
	select {
	case r := <-done:
		return r.sum, r.err
	case <-ctx.Done():
	}
	t := time.NewTimer(stopGrace)
	defer t.Stop()
	select {
	case r := <-done:
		return r.sum, r.err
	case <-t.C:
	}
	for p := range leftovers(dir, base) {
		if !before[p] {
			os.RemoveAll(p)
		}
	}
	return nil, fmt.Errorf("interrupted: the pipeline did not stop within %v; its temporary files were removed", stopGrace)
}

// stopWithin stops srv gracefully (ctx bounds the wait for running
// requests), but returns after bound whatever the workers do: a request
// that ignores its cancellation must not keep the process alive. Then the
// spool directories of the requests left are removed, and the command exits
// with exitInternal.
func stopWithin(srv *server.Server, ctx context.Context, bound time.Duration, errc <-chan error, log *zap.Logger) error {
	stopped := make(chan struct{})
	go func() {
		srv.GracefulStop(ctx)
		<-errc
		close(stopped)
	}()
	t := time.NewTimer(bound)
	defer t.Stop()
	select {
	case <-stopped:
		log.Info("stopped")
		return nil
	case <-t.C:
	}
	n := srv.Abandon()
	log.Error("requests did not stop after the shutdown timeout; exiting without them", zap.Int("requests", n))
	return internalError{fmt.Errorf("shutdown: %d requests did not stop within %v", n, bound)}
}
