package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/quantprep/quantprep/internal/buildinfo"
	"github.com/quantprep/quantprep/pipeline"
	"github.com/quantprep/quantprep/server"
)

// envPrefix turns a serve flag into its environment variable: --max_upload_bytes
// is QUANTPREP_MAX_UPLOAD_BYTES.
const envPrefix = "QUANTPREP_"

func envName(flag string) string { return envPrefix + strings.ToUpper(flag) }

type serveFlags struct {
	listen          string
	cfg             server.Config
	budgets         pipeline.Options // the budget flags' values, for cfg.Budgets
	maxUpload       byteSize
	chunkSize       byteSize
	shutdownTimeout time.Duration
	logLevel        string
	limits          serveLimits
	platform        platform
}

func newServeCmd(stderr io.Writer) *cobra.Command {
	f := serveFlags{listen: "127.0.0.1:50051", maxUpload: server.DefaultMaxUploadBytes, chunkSize: server.DefaultChunkSize,
		shutdownTimeout: 30 * time.Second, logLevel: "info"}
	cmd := &cobra.Command{
		Use:   "serve [flags]",
		Short: "Run the quantprep gRPC server",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnv(cmd.Flags()); err != nil {
				return err
			}
			f.cfg.MaxUploadBytes, f.cfg.ChunkSize = int64(f.maxUpload), int(f.chunkSize)
			f.cfg.Budgets = f.budgets.Budgets
			if err := checkServeFlags(&f, &f.limits); err != nil {
				return err
			}
			if err := f.cfg.Budgets.Validate(); err != nil {
				return usagef("serve: %v", err)
			}
			var lvl zapcore.Level
			if err := lvl.Set(f.logLevel); err != nil {
				return usagef("--log_level: %v", err)
			}
			if err := f.platform.validate(); err != nil {
				return err
			}
			zc := zap.NewProductionEncoderConfig()
			zc.TimeKey = "ts"
			zc.EncodeTime = zapcore.RFC3339NanoTimeEncoder
			log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zc), zapcore.Lock(zapcore.AddSync(stderr)), lvl), zap.AddCaller())
			defer log.Sync()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return serveWith(ctx, f.listen, f.cfg, f.shutdownTimeout, log, nil, &f.platform)
		},
	}
	fl := cmd.Flags()
	fl.SortFlags = false
	fl.StringVar(&f.listen, "listen", f.listen, "address to listen on, HOST:PORT")
	fl.IntVar(&f.cfg.Workers, "workers", 0, "pipeline runs at once (default: the number of CPUs)")
	fl.IntVar(&f.cfg.QueueSize, "queue_size", server.DefaultQueueSize, "uploaded requests that may wait for a worker; more get RESOURCE_EXHAUSTED")
	fl.IntVar(&f.cfg.MaxStreams, "max_streams", 0, "requests open at once, uploading, queued or running (default: 2*(workers+queue_size))")
	fl.Var(&f.maxUpload, "max_upload_bytes", "largest upload, model and external data together (1Gi, 512Mi, 1.5GiB, 1GB, ...)")
	fl.StringVar(&f.cfg.TempDir, "temp_dir", "", "where uploads are spooled (default: the system's temp dir)")
	fl.StringVar(&f.cfg.SharedDir, "shared_dir", "", "a directory in a volume shared with clients (a sidecar's): requests may name their model there and get their output there, instead of streaming both (preprocess --shared_dir)")
	fl.Var(&f.chunkSize, "chunk_size", "largest data chunk of a response message")
	fl.DurationVar(&f.shutdownTimeout, "shutdown_timeout", f.shutdownTimeout, "on SIGTERM, how long running requests may finish before they are cancelled")
	fl.StringVar(&f.logLevel, "log_level", f.logLevel, "debug, info, warn or error")
	addLimitFlags(fl, &f.cfg.Limits, &f.limits)
	addOptionFlags(fl, &f.budgets, budgetOptions, "; a request may lower it, not raise it")
	f.platform.register(fl)
	var env []string
	fl.VisitAll(func(fl *pflag.Flag) {
		fl.Usage += fmt.Sprintf(" [$%s]", envName(fl.Name))
		env = append(env, fmt.Sprintf("  %-30s --%s", envName(fl.Name), fl.Name))
	})
	cmd.Long = `serve runs the quantprep gRPC service (quantprep.v1.PreprocessService), with the
standard health service and server reflection, until SIGTERM or SIGINT; then it
stops taking requests and lets running ones finish (--shutdown_timeout).

Every flag has an environment variable; a flag given on the command line wins:
` + strings.Join(env, "\n")
	return cmd
}

// applyEnv sets each flag not given on the command line from its environment
// variable, if that is set.
func applyEnv(fs *pflag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		v, ok := os.LookupEnv(envName(f.Name))
		if err != nil || f.Changed || !ok {
			return
		}
		if serr := f.Value.Set(v); serr != nil {
			err = usagef("$%s=%q: %v", envName(f.Name), v, serr)
		}
	})
	return err
}

// serve runs the server on addr until ctx ends, then stops it gracefully,
// waiting at most timeout for running requests. ready, if not nil, learns the
// bound address.
func serve(ctx context.Context, addr string, cfg server.Config, timeout time.Duration, log *zap.Logger, ready func(net.Addr)) error {
	return serveWith(ctx, addr, cfg, timeout, log, ready, &platform{})
}

// serveWith is serve with the platform's TLS, metrics, keepalive and drain delay.
func serveWith(ctx context.Context, addr string, cfg server.Config, timeout time.Duration, log *zap.Logger, ready func(net.Addr), p *platform) error {
	opts, stopExtras, err := p.options(ctx, log)
	if err != nil {
		return err
	}
	defer stopExtras()
	srv, err := server.New(cfg, log, nil, opts...)
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	log.Info("serving", zap.Stringer("addr", lis.Addr()), zap.String("version", buildinfo.Version()), zap.Bool("tls", p.tlsCert != ""),
		zap.Bool("mtls", p.tlsClientCA != ""))
	if ready != nil {
		ready(lis.Addr())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	select {
	case err := <-errc:
		srv.Stop()
		return err
	case <-ctx.Done():
	}
	if p.drainDelay > 0 {
		// Readiness fails from now on; requests still come until the
		// endpoints drop this server, and are served.
		log.Info("draining", zap.Duration("delay", p.drainDelay))
		srv.Drain()
		time.Sleep(p.drainDelay)
	}
	log.Info("shutting down", zap.Duration("timeout", timeout))
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return stopWithin(srv, sctx, timeout+time.Second, errc, log)
}

// byteSize is a flag value in bytes. It takes Kubernetes quantities (512Mi,
// 1Gi, 1G), IEC and SI units (512MiB, 1.5GiB, 1GB, 1 kB) and plain numbers,
// through go-humanize's ParseBytes: a small, dependency-free, long-kept
// parser whose units are Kubernetes' (k, M, G are powers of 1000; Ki, Mi, Gi
// of 1024), where apimachinery's Quantity would bring its whole module into
// the binary.
type byteSize int64

func (b *byteSize) String() string { return strconv.FormatInt(int64(*b), 10) }
func (b *byteSize) Type() string   { return "bytes" }

func (b *byteSize) Set(s string) error {
	v, err := humanize.ParseBytes(s)
	if err != nil || v == 0 || v > 1<<62 {
		return fmt.Errorf("want a positive size like 1048576, 512Mi, 8GiB or 1GB, got %q", s)
	}
	*b = byteSize(v)
	return nil
}
