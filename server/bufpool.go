package server

import (
	"math/bits"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/mem"
)

// The process's gRPC buffers come from streamPool: set as grpc's default pool
// at init (grpc allows it only then), it serves the codec's buffers of every
// client and server of the process; the transport's buffers are set apart
// (grpc reads its default before this init runs), by New for the server and
// by ClientOptions for a client. Why not grpc's own: it clears every buffer it hands out again, and its largest tier
// is 1 MiB, so each message of a 1 MiB chunk (a few bytes more) was a fresh
// allocation, cleared. On machines where touching fresh memory is slow, that
// cost more than the copy it served. streamPool's buffers are not cleared:
// gRPC fills every byte it reads into one before it reads the buffer.
func init() { experimental.SetDefaultBufferPool(streamPool) }

// transportBuffer is the size of a connection's read and write buffers
// (grpc's default is 32 KiB): a chunk of 1 MiB then takes 4 system calls
// each way instead of 32.
const transportBuffer = 256 << 10

// transportOptions are the server's transport settings for the streams.
func transportOptions() []grpc.ServerOption {
	return []grpc.ServerOption{experimental.BufferPool(streamPool),
		grpc.ReadBufferSize(transportBuffer), grpc.WriteBufferSize(transportBuffer)}
}

// ClientOptions are the transport settings of a client that matches the
// server's: the same buffer pool and buffer sizes. `quantprep preprocess
// --server` dials with them.
func ClientOptions() []grpc.DialOption {
	return []grpc.DialOption{experimental.WithBufferPool(streamPool),
		grpc.WithReadBufferSize(transportBuffer), grpc.WithWriteBufferSize(transportBuffer)}
}

var streamPool = newBufferPool()

// bufferPool hands out buffers of a power-of-two capacity. Small ones are
// kept in sync.Pools; those of 64 KiB and more in free lists that the
// garbage collector does not empty (a sync.Pool is emptied every other
// cycle), bounded in number, so that a stream reuses the same warm memory
// from its first chunk to its last.
type bufferPool struct {
	small [16]sync.Pool              // capacities 1<<0 .. 1<<15
	large [maxShift + 1]chan *[]byte // capacities 1<<16 .. 1<<maxShift
}

const (
	minLargeShift = 16
	maxShift      = 24 // 16 MiB: larger buffers are allocated and dropped
	// largeKept bounds the idle buffers kept per large class: a few streams'
	// messages in flight. At the default limits (messages up to 4 MiB) the
	// pool keeps at most 8*(64 KiB+...+4 MiB), under 64 MiB, whatever the
	// clients send.
	largeKept = 8
)

func newBufferPool() *bufferPool {
	p := &bufferPool{}
	for i := minLargeShift; i <= maxShift; i++ {
		p.large[i] = make(chan *[]byte, largeKept)
	}
	return p
}

// shift is the capacity class of a buffer of n bytes: the least k with 1<<k >= n.
func shift(n int) int {
	if n <= 1 {
		return 0
	}
	return bits.Len(uint(n - 1))
}

// Get returns a buffer of length n; its bytes are not cleared.
func (p *bufferPool) Get(n int) *[]byte {
	k := shift(n)
	switch {
	case k > maxShift:
		b := make([]byte, n)
		return &b
	case k >= minLargeShift:
		select {
		case b := <-p.large[k]:
			*b = (*b)[:n]
			return b
		default:
		}
	default:
		if b, ok := p.small[k].Get().(*[]byte); ok {
			*b = (*b)[:n]
			return b
		}
	}
	b := make([]byte, n, 1<<k)
	return &b
}

// Put takes back a buffer that Get returned.
func (p *bufferPool) Put(b *[]byte) {
	c := cap(*b)
	k := shift(c)
	if c == 0 || 1<<k != c || k > maxShift {
		return // not one of ours: let the collector have it
	}
	if k >= minLargeShift {
		select {
		case p.large[k] <- b:
		default:
		}
		return
	}
	p.small[k].Put(b)
}

var _ mem.BufferPool = (*bufferPool)(nil)
