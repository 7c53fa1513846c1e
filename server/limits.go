package server

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
	"time"
)

// Defaults of Limits.
const (
	DefaultIdleTimeout = 30 * time.Second
	DefaultSendTimeout = 60 * time.Second
	// DefaultDiskQuotaFactor times MaxUploadBytes is a request's default disk
	// quota: the upload once, the output about once, spilled weights and room.
	DefaultDiskQuotaFactor = 4
)

// Limits bound what one client, one connection or one request may hold of the
// server: time between messages, disk and memory. Zero fields take defaults
// (withDefaults); they are part of Config.
type Limits struct {
	// IdleTimeout is the longest wait for the next message of an upload
	// (options, model or external data); past it the request fails with
	// DEADLINE_EXCEEDED and its slot and files are released. Default 30 s.
	IdleTimeout time.Duration
	// SendTimeout is the longest that one response message may take to reach
	// a client that does not read it (flow control holds the sender); past it
	// the request is cut off and its files are removed. Default 60 s.
	SendTimeout time.Duration
	// MaxStreamsPerConn bounds the Preprocess streams open at once on one
	// connection. Default Workers+QueueSize: what the server can run or queue,
	// half of the default MaxStreams.
	MaxStreamsPerConn int
	// MaxStreamsPerPeer bounds them for one client address (every connection
	// from one IP). Default Workers+QueueSize. Behind a proxy or a sidecar all
	// requests come from one address: raise it to MaxStreams there.
	MaxStreamsPerPeer int
	// RequestDiskQuota bounds the bytes one request writes to TempDir: its
	// upload, the weights the pipeline spills and the output. Default
	// DefaultDiskQuotaFactor*MaxUploadBytes.
	RequestDiskQuota int64
	// DiskBudget bounds those bytes over all requests at once. Default 80% of
	// the space free in TempDir when the server starts (no bound where that is
	// unknown).
	DiskBudget int64
	// MemoryBudget bounds the memory that the pipeline runs in progress are
	// estimated to need (estimateMemory); a run waits for a worker until its
	// estimate fits, and a model whose estimate alone exceeds the budget is
	// refused with RESOURCE_EXHAUSTED. Default 3/4 of the container's memory
	// limit (cgroup), or of the machine's memory.
	MemoryBudget int64
}

func (l Limits) withDefaults(c Config) Limits {
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = DefaultIdleTimeout
	}
	if l.SendTimeout <= 0 {
		l.SendTimeout = DefaultSendTimeout
	}
	if l.MaxStreamsPerPeer <= 0 {
		l.MaxStreamsPerPeer = c.Workers + c.QueueSize
	}
	if l.MaxStreamsPerConn <= 0 {
		l.MaxStreamsPerConn = c.Workers + c.QueueSize
	}
	if l.RequestDiskQuota <= 0 {
		l.RequestDiskQuota = c.MaxUploadBytes
		if c.MaxUploadBytes <= (1<<62)/DefaultDiskQuotaFactor {
			l.RequestDiskQuota = DefaultDiskQuotaFactor * c.MaxUploadBytes
		}
	}
	if l.DiskBudget <= 0 {
		if free := freeSpace(c.TempDir); free > 0 {
			l.DiskBudget = free / 10 * 8
		}
	}
	if l.MemoryBudget <= 0 {
		if m := memoryLimit(); m > 0 {
			l.MemoryBudget = m / 4 * 3
		}
	}
	return l
}

// memoryLimit is the memory this process may use: the cgroup's limit (v2,
// then v1) if there is one below the machine's memory, else the machine's
// memory; 0 if neither is known.
func memoryLimit() int64 {
	total := int64(0)
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) >= 2 && f[0] == "MemTotal:" {
				if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil {
					total = kb << 10
				}
			}
		}
	}
	for _, p := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && v > 0 && (total == 0 || v < total) {
			return v
		}
	}
	return total
}
