// Package server is quantprep's gRPC transport: it validates requests, spools
// uploads to disk, runs the pipeline in a bounded worker pool, streams the
// results back, and maps errors to status codes in one place. The pipeline
// itself knows nothing of gRPC.
package server

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/selector"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/validator"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	quantprepv1 "github.com/quantprep/quantprep/api/quantprep/v1"
	"github.com/quantprep/quantprep/pipeline"
)

// Defaults for the zero fields of Config.
const (
	DefaultChunkSize      = 1 << 20
	DefaultQueueSize      = 16
	DefaultMaxUploadBytes = 8 << 30
)

// Config holds the server's limits. Zero fields take defaults (see withDefaults).
type Config struct {
	// TempDir is where each request's upload and output are spooled, in a
	// directory of its own that is removed when the request ends. Default os.TempDir().
	TempDir string
	// SharedDir, if set, is a directory in a volume the server shares with its
	// clients (a sidecar's): requests may then name their model there
	// (shared_model) instead of uploading it, and get their output written
	// there. Created if missing. Empty: such requests get FAILED_PRECONDITION.
	SharedDir string
	// MaxUploadBytes bounds the model and external data of one request together.
	MaxUploadBytes int64
	// Workers is the number of pipeline runs at once. Default runtime.NumCPU().
	Workers int
	// QueueSize is the number of finished uploads that may wait for a worker;
	// beyond it requests get ResourceExhausted.
	QueueSize int
	// ChunkSize bounds the data of one response message. Default 1 MiB.
	ChunkSize int
	// MaxStreams bounds the Preprocess streams open at once (uploads, queued and
	// running together); beyond it requests get ResourceExhausted at once.
	// Default 2*(Workers+QueueSize).
	MaxStreams int
	// Limits bound time, disk and memory per request, connection and client.
	Limits
	// Budgets are the pipeline's budgets for every request: a request's 0
	// takes the server's value, and a request may lower a budget but not
	// raise it over the server's (RequestBudgets). Zero fields are the
	// pipeline's defaults.
	Budgets pipeline.Budgets
}

func (c Config) withDefaults() Config {
	if c.TempDir == "" {
		c.TempDir = os.TempDir()
	}
	if c.MaxUploadBytes <= 0 {
		c.MaxUploadBytes = DefaultMaxUploadBytes
	}
	if c.Workers <= 0 {
		c.Workers = runtime.NumCPU()
	}
	if c.QueueSize <= 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.ChunkSize <= 0 {
		c.ChunkSize = DefaultChunkSize
	}
	if c.MaxStreams <= 0 {
		c.MaxStreams = 2 * (c.Workers + c.QueueSize)
	}
	return c
}

// Runner runs the pipeline from a model file to an output file; pipeline.Run
// is the real one, and tests inject failures through it.
type Runner interface {
	Run(ctx context.Context, inPath, outPath string, o pipeline.Options, progress func(pipeline.Event)) (*pipeline.Report, error)
}

// RunnerFunc adapts a function to Runner.
type RunnerFunc func(ctx context.Context, inPath, outPath string, o pipeline.Options, progress func(pipeline.Event)) (*pipeline.Report, error)

// Run calls f.
func (f RunnerFunc) Run(ctx context.Context, inPath, outPath string, o pipeline.Options, progress func(pipeline.Event)) (*pipeline.Report, error) {
	return f(ctx, inPath, outPath, o, progress)
}

// PipelineRunner is the Runner that calls pipeline.Run.
var PipelineRunner Runner = RunnerFunc(pipeline.Run)

// Server is the gRPC server with quantprep's service, health and reflection.
type Server struct {
	cfg    Config
	log    *zap.Logger
	grpc   *grpc.Server
	health *health.Server
	pool   *pool
	svc    *preprocessService
	// tempLock is TempDir, held with a shared flock while the server runs.
	tempLock *os.File
}

// New wires the service, its interceptor chain (logging, stream limit,
// validator, recovery), the health service and reflection. A nil runner means
// PipelineRunner; a nil logger logs nothing. The options add TLS, keepalive,
// metrics and tracing (options.go).
func New(cfg Config, log *zap.Logger, runner Runner, opts ...Option) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Budgets.Validate(); err != nil {
		return nil, fmt.Errorf("budgets: %w", err)
	}
	if log == nil {
		log = zap.NewNop()
	}
	if runner == nil {
		runner = PipelineRunner
	}
	if err := os.MkdirAll(cfg.TempDir, 0o700); err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	if cfg.SharedDir != "" {
		// Created if missing, as TempDir is: a sidecar's shared directory
		// may be a directory of a volume that the application container
		// mounts by subPath, and the sidecar starts first.
		if err := os.MkdirAll(cfg.SharedDir, 0o775); err != nil {
			return nil, fmt.Errorf("shared dir: %w", err)
		}
		r, err := os.OpenRoot(cfg.SharedDir)
		if err != nil {
			return nil, fmt.Errorf("shared dir: %w", err)
		}
		r.Close()
	}
	cfg.Limits = cfg.Limits.withDefaults(cfg) // the disk budget's default needs the dir
	var err error
	s := &Server{cfg: cfg, log: log, tempLock: claimTempDir(cfg.TempDir, log)}
	s.pool = newPool(cfg.Workers, cfg.QueueSize, func(ctx context.Context, p any, stack []byte) {
		requestLogger(ctx, log).Error("pipeline worker panicked", zap.Any("panic", p), zap.ByteString("stack", stack))
	})
	x := newExtras(opts, log)
	if x.registerer != nil {
		if x.metrics, err = newMetrics(x.registerer, s.pool, cfg, x.version); err != nil {
			s.pool.close()
			if s.tempLock != nil {
				s.tempLock.Close()
			}
			return nil, err
		}
	}
	recoverOpt := recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
		requestLogger(ctx, log).Error("handler panicked", zap.Any("panic", p), zap.Stack("stack"))
		return status.Error(codes.Internal, "internal error (details are in the server log)")
	})
	// The recv-size limit leaves room for a chunk of ChunkSize plus its framing,
	// and never goes below gRPC's default.
	maxRecv := maxRecvMsgSize(cfg)
	s.grpc = grpc.NewServer(x.wrap(append(transportOptions(),
		grpc.MaxRecvMsgSize(maxRecv),
		grpc.ForceServerCodecV2(newStreamCodec()),
		// Stop then returns only after every handler has removed its temp files.
		grpc.WaitForHandlers(true),
		grpc.StatsHandler(&connTagger{}),
		grpc.ChainUnaryInterceptor(
			selector.UnaryServerInterceptor(logging.UnaryServerInterceptor(zapLogger(log), logOpts...), notHealth),
			validator.UnaryServerInterceptor(),
			recovery.UnaryServerInterceptor(recoverOpt),
		),
		grpc.ChainStreamInterceptor(
			selector.StreamServerInterceptor(logging.StreamServerInterceptor(zapLogger(log), logOpts...), notHealth),
			newPeerLimiter(cfg.MaxStreamsPerConn, cfg.MaxStreamsPerPeer, quantprepv1.PreprocessService_ServiceDesc.ServiceName).stream,
			newLimiter(cfg.MaxStreams, quantprepv1.PreprocessService_ServiceDesc.ServiceName).stream,
			validator.StreamServerInterceptor(),
			recovery.StreamServerInterceptor(recoverOpt),
		),
	)...)...)
	s.svc = newPreprocessService(cfg, log, x.instrument(runner), s.pool)
	quantprepv1.RegisterPreprocessServiceServer(s.grpc, s.svc)
	s.health = health.NewServer()
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	s.health.SetServingStatus(quantprepv1.PreprocessService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)
	if x.metrics != nil {
		x.metrics.grpc.InitializeMetrics(s.grpc)
	}
	return s, nil
}

// notHealth keeps health checks out of the request log: Kubernetes probes call
// them every few seconds, and two lines per probe would drown the real requests.
var notHealth = selector.MatchFunc(func(_ context.Context, c interceptors.CallMeta) bool {
	return c.Service != healthpb.Health_ServiceDesc.ServiceName
})

// GRPC returns the underlying gRPC server.
func (s *Server) GRPC() *grpc.Server { return s.grpc }

// Serve accepts connections on lis until Stop or GracefulStop.
func (s *Server) Serve(lis net.Listener) error { return s.grpc.Serve(lis) }

// GracefulStop reports NOT_SERVING, lets running requests finish, then stops
// the workers. If ctx ends first, it cancels the requests still open.
func (s *Server) GracefulStop(ctx context.Context) {
	s.health.Shutdown()
	done := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		s.grpc.Stop()
		<-done
	}
	s.pool.close()
	s.unlockTemp()
}

// Stop cancels every request at once and stops the workers.
func (s *Server) Stop() {
	s.health.Shutdown()
	s.grpc.Stop()
	s.pool.close()
	s.unlockTemp()
}

// unlockTemp releases the temp dir's lock once every request has ended.
func (s *Server) unlockTemp() {
	if s.tempLock != nil {
		s.tempLock.Close()
		s.tempLock = nil
	}
}
