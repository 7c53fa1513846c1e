package server

import (
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// limiter bounds the streams of one service open at once with a semaphore. It
// turns the excess away at once rather than queueing it: each open stream may
// hold an upload's spool files. (The middleware's ratelimit package cannot
// release a slot when a stream ends, hence this.)
type limiter struct {
	slots   chan struct{}
	service string
}

func newLimiter(n int, service string) *limiter {
	return &limiter{slots: make(chan struct{}, n), service: "/" + service + "/"}
}

func (l *limiter) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	// Health and reflection stay reachable however busy the service is.
	if !strings.HasPrefix(info.FullMethod, l.service) {
		return handler(srv, ss)
	}
	select {
	case l.slots <- struct{}{}:
	default:
		return status.Errorf(codes.ResourceExhausted, "server busy: %d requests already open; retry later", cap(l.slots))
	}
	defer func() { <-l.slots }()
	return handler(srv, ss)
}
