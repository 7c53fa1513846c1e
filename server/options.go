package server

import (
	"crypto/tls"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	"github.com/quantprep/quantprep/internal/buildinfo"
)

// Option sets what a production deployment adds to the server: TLS,
// connection management, metrics and tracing. New without options serves
// plaintext with the default keepalive and records no metrics or traces.
type Option func(*extras)

// Keepalive is the connection management of the server (grpc-go's keepalive
// ServerParameters and EnforcementPolicy). Zero fields take DefaultKeepalive's.
type Keepalive struct {
	// MaxConnectionIdle closes a connection without streams for this long.
	MaxConnectionIdle time.Duration
	// MaxConnectionAge asks a client to reconnect (GOAWAY) after this long, so
	// that long-lived connections spread over new pods; jittered by ±10%.
	MaxConnectionAge time.Duration
	// MaxConnectionAgeGrace is how long the streams of such a connection may
	// still run before it is closed: longer than a large model's run.
	MaxConnectionAgeGrace time.Duration
	// Time is the interval of the server's pings on an idle connection, and
	// Timeout how long it waits for the answer before closing it.
	Time, Timeout time.Duration
	// MinTime is the shortest ping interval a client may use; a client that
	// pings more often is disconnected (GOAWAY too_many_pings).
	MinTime time.Duration
	// PermitWithoutStream lets clients ping with no stream open.
	PermitWithoutStream bool
}

// DefaultKeepalive suits a service behind client-side round_robin: a
// connection moves to a new pod within ten minutes, a request gets half an
// hour to finish on an old connection, and dead peers are found in minutes.
var DefaultKeepalive = Keepalive{
	MaxConnectionIdle:     15 * time.Minute,
	MaxConnectionAge:      10 * time.Minute,
	MaxConnectionAgeGrace: 30 * time.Minute,
	Time:                  2 * time.Minute,
	Timeout:               20 * time.Second,
	MinTime:               30 * time.Second,
	PermitWithoutStream:   true,
}

func (k Keepalive) withDefaults() Keepalive {
	d := DefaultKeepalive
	set := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	set(&k.MaxConnectionIdle, d.MaxConnectionIdle)
	set(&k.MaxConnectionAge, d.MaxConnectionAge)
	set(&k.MaxConnectionAgeGrace, d.MaxConnectionAgeGrace)
	set(&k.Time, d.Time)
	set(&k.Timeout, d.Timeout)
	set(&k.MinTime, d.MinTime)
	return k
}

// WithTLS serves TLS with cfg (see client/tlsfiles.ServerConfig, which
// reloads rotated certificates); with cfg.ClientCAs or GetConfigForClient
// requiring client certificates, mutual TLS.
func WithTLS(cfg *tls.Config) Option { return func(x *extras) { x.tls = cfg } }

// WithKeepalive sets the connection management.
func WithKeepalive(k Keepalive) Option { return func(x *extras) { x.keepalive = k } }

// WithMetrics registers the server's Prometheus metrics with reg: gRPC's
// (go-grpc-middleware's provider) and the service's own (see metrics.go).
func WithMetrics(reg prometheus.Registerer) Option { return func(x *extras) { x.registerer = reg } }

// WithTracerProvider traces requests with tp: a span per RPC (otelgrpc's
// stats handler) with a child span per pipeline step.
func WithTracerProvider(tp trace.TracerProvider) Option { return func(x *extras) { x.tracer = tp } }

// extras are the options' values and what New builds from them.
type extras struct {
	tls        *tls.Config
	keepalive  Keepalive
	registerer prometheus.Registerer
	tracer     trace.TracerProvider

	version string
	metrics *metrics // nil without WithMetrics
	log     *zap.Logger
}

func newExtras(opts []Option, log *zap.Logger) *extras {
	x := &extras{version: buildinfo.Version(), log: log}
	for _, o := range opts {
		o(x)
	}
	x.keepalive = x.keepalive.withDefaults()
	return x
}

// wrap surrounds New's own server options with the extras': credentials,
// keepalive and the stats handler, then interceptors outside New's chain
// (request ids, metrics) and inside it (accepting the stream).
func (x *extras) wrap(own ...grpc.ServerOption) []grpc.ServerOption {
	k := x.keepalive
	opts := []grpc.ServerOption{
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle:     k.MaxConnectionIdle,
			MaxConnectionAge:      k.MaxConnectionAge,
			MaxConnectionAgeGrace: k.MaxConnectionAgeGrace,
			Time:                  k.Time,
			Timeout:               k.Timeout,
		}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: k.MinTime, PermitWithoutStream: k.PermitWithoutStream}),
	}
	if x.tls != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(x.tls)))
	}
	if h := x.statsHandler(); h != nil {
		opts = append(opts, grpc.StatsHandler(h))
	}
	unary := []grpc.UnaryServerInterceptor{x.requestsUnary}
	stream := []grpc.StreamServerInterceptor{x.requestsStream}
	if x.metrics != nil {
		unary = append(unary, x.metrics.grpc.UnaryServerInterceptor())
		stream = append(stream, x.metrics.grpc.StreamServerInterceptor())
	}
	opts = append(opts, grpc.ChainUnaryInterceptor(unary...), grpc.ChainStreamInterceptor(stream...))
	opts = append(opts, own...)
	return append(opts, grpc.ChainStreamInterceptor(x.accept))
}
