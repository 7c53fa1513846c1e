package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"

	quantprepv1 "github.com/quantprep/quantprep/api/quantprep/v1"
)

// Errors of a client that stops talking or listening.
var (
	errIdle        = errors.New("upload idle")
	errSendTimeout = errors.New("client not reading")
)

// guardedStream is the request stream with time limits that gRPC lacks: a
// blocked Recv or Send cannot be interrupted from the handler, so each runs
// in a goroutine of its own while the handler waits with a timer. When the
// timer fires the handler returns, gRPC ends the stream, and the blocked call
// returns on its own; the handler never touches the stream again.
type guardedStream struct {
	quantprepv1.PreprocessService_PreprocessServer
	idle, sendTimeout time.Duration

	recvOnce sync.Once
	recvd    chan recvResult
	quit     chan struct{}
	last     error          // the receiver's final error, returned again
	prev     *pooledRequest // the message Recv returned last

	sendOnce sync.Once
	sendc    chan *quantprepv1.PreprocessResponse
	sendRes  chan error
	stuck    error // set once a Send timed out
}

type recvResult struct {
	req *pooledRequest
	err error
}

func newGuardedStream(s quantprepv1.PreprocessService_PreprocessServer, idle, send time.Duration) *guardedStream {
	return &guardedStream{PreprocessService_PreprocessServer: s, idle: idle, sendTimeout: send,
		recvd: make(chan recvResult), quit: make(chan struct{})}
}

// Recv returns the next request message, or errIdle when none comes within
// the idle timeout. A chunk's data is valid until the next Recv, which gives
// its buffer back to the pool (streamCodec).
func (g *guardedStream) Recv() (*quantprepv1.PreprocessRequest, error) {
	if g.prev != nil {
		g.prev.release()
		g.prev = nil
	}
	if g.last != nil {
		return nil, g.last
	}
	g.recvOnce.Do(func() {
		go func() {
			for {
				pr := &pooledRequest{}
				err := g.RecvMsg(pr)
				select {
				case g.recvd <- recvResult{pr, err}:
				case <-g.quit:
					return
				}
				if err != nil {
					return
				}
			}
		}()
	})
	t := time.NewTimer(g.idle)
	defer t.Stop()
	select {
	case r := <-g.recvd:
		if r.err != nil {
			g.last = r.err
			return nil, r.err
		}
		g.prev = r.req
		return r.req.req, nil
	case <-t.C:
		g.last = fmt.Errorf("%w: no message for %v; the upload is abandoned (the server's idle_timeout)", errIdle, g.idle)
		return nil, g.last
	case <-g.Context().Done():
		return nil, g.Context().Err()
	}
}

// Send sends m, or fails with errSendTimeout when the client has not taken
// it within the send timeout; after that every Send fails at once.
func (g *guardedStream) Send(m *quantprepv1.PreprocessResponse) error {
	if g.stuck != nil {
		return g.stuck
	}
	g.sendOnce.Do(func() {
		g.sendc, g.sendRes = make(chan *quantprepv1.PreprocessResponse), make(chan error, 1)
		go func() {
			for m := range g.sendc {
				g.sendRes <- g.PreprocessService_PreprocessServer.Send(m)
			}
		}()
	})
	g.sendc <- m // the sender is idle: its last Send returned
	t := time.NewTimer(g.sendTimeout)
	defer t.Stop()
	select {
	case err := <-g.sendRes:
		return err
	case <-t.C:
		g.stuck = fmt.Errorf("%w: a response message waited %v for the client to read it (the server's send_timeout)", errSendTimeout, g.sendTimeout)
		return g.stuck
	}
}

// close stops the helper goroutines once the handler is done with the
// stream; a blocked one returns when gRPC ends the stream.
func (g *guardedStream) close() {
	close(g.quit)
	g.sendOnce.Do(func() {})
	if g.sendc != nil {
		close(g.sendc)
	}
}

// connKey is the context key of a connection's identity, set by connTagger.
type connKey struct{}

// connTagger gives every connection a number in its context (a stats
// handler sees connections begin; interceptors do not), so that streams can
// be counted per connection whatever the transport's addresses look like.
type connTagger struct{ next atomic.Uint64 }

func (c *connTagger) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return context.WithValue(ctx, connKey{}, c.next.Add(1))
}
func (*connTagger) HandleConn(context.Context, stats.ConnStats)                     {}
func (*connTagger) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (*connTagger) HandleRPC(context.Context, stats.RPCStats)                       {}

// peerLimiter bounds the service's streams open at once per connection and
// per client address, so that one client cannot take every slot of the
// server-wide limiter behind it. Like that limiter it turns the excess away
// at once, and leaves health and reflection alone.
type peerLimiter struct {
	perConn, perPeer int
	service          string
	mu               sync.Mutex
	conns            map[uint64]int
	peers            map[string]int
}

func newPeerLimiter(perConn, perPeer int, service string) *peerLimiter {
	return &peerLimiter{perConn: perConn, perPeer: perPeer, service: "/" + service + "/",
		conns: map[uint64]int{}, peers: map[string]int{}}
}

// peerHost is the client's address without its port.
func peerHost(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return ""
	}
	if a, ok := p.Addr.(*net.TCPAddr); ok {
		return a.IP.String()
	}
	if h, _, err := net.SplitHostPort(p.Addr.String()); err == nil {
		return h
	}
	return p.Addr.String()
}

func (l *peerLimiter) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if len(info.FullMethod) < len(l.service) || info.FullMethod[:len(l.service)] != l.service {
		return handler(srv, ss)
	}
	ctx := ss.Context()
	conn, _ := ctx.Value(connKey{}).(uint64)
	host := peerHost(ctx)
	l.mu.Lock()
	switch {
	case l.perConn > 0 && l.conns[conn] >= l.perConn:
		l.mu.Unlock()
		return status.Errorf(codes.ResourceExhausted, "too many requests open on this connection (%d, the server's max_streams_per_conn); retry later", l.perConn)
	case l.perPeer > 0 && l.peers[host] >= l.perPeer:
		l.mu.Unlock()
		return status.Errorf(codes.ResourceExhausted, "too many requests open from this client address (%d, the server's max_streams_per_peer); retry later", l.perPeer)
	}
	l.conns[conn]++
	l.peers[host]++
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		if l.conns[conn]--; l.conns[conn] <= 0 {
			delete(l.conns, conn)
		}
		if l.peers[host]--; l.peers[host] <= 0 {
			delete(l.peers, host)
		}
		l.mu.Unlock()
	}()
	return handler(srv, ss)
}
