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

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/quantprep/quantprep/server"
)

// envPrefix turns a serve flag into its environment variable: --max_upload_bytes
// is QUANTPREP_MAX_UPLOAD_BYTES.
const envPrefix = "QUANTPREP_"

func envName(flag string) string { return envPrefix + strings.ToUpper(flag) }

type serveFlags struct {
	listen          string
	cfg             server.Config
	maxUpload       byteSize
	chunkSize       byteSize
	shutdownTimeout time.Duration
	logLevel        string
	limits          serveLimits
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
			if err := checkServeFlags(&f, &f.limits); err != nil {
				return err
			}
			var lvl zapcore.Level
			if err := lvl.Set(f.logLevel); err != nil {
				return usagef("--log_level: %v", err)
			}
			zc := zap.NewProductionConfig()
			zc.Level = zap.NewAtomicLevelAt(lvl)
			log, err := zc.Build()
			if err != nil {
				return err
			}
			defer log.Sync()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return serve(ctx, f.listen, f.cfg, f.shutdownTimeout, log, nil)
		},
	}
	fl := cmd.Flags()
	fl.SortFlags = false
	fl.StringVar(&f.listen, "listen", f.listen, "address to listen on, HOST:PORT")
	fl.IntVar(&f.cfg.Workers, "workers", 0, "pipeline runs at once (default: the number of CPUs)")
	fl.IntVar(&f.cfg.QueueSize, "queue_size", server.DefaultQueueSize, "uploaded requests that may wait for a worker; more get RESOURCE_EXHAUSTED")
	fl.IntVar(&f.cfg.MaxStreams, "max_streams", 0, "requests open at once, uploading, queued or running (default: 2*(workers+queue_size))")
	fl.Var(&f.maxUpload, "max_upload_bytes", "largest upload, model and external data together (suffixes K, M, G, KiB, MiB, GiB)")
	fl.StringVar(&f.cfg.TempDir, "temp_dir", "", "where uploads are spooled (default: the system's temp dir)")
	fl.Var(&f.chunkSize, "chunk_size", "largest data chunk of a response message")
	fl.DurationVar(&f.shutdownTimeout, "shutdown_timeout", f.shutdownTimeout, "on SIGTERM, how long running requests may finish before they are cancelled")
	fl.StringVar(&f.logLevel, "log_level", f.logLevel, "debug, info, warn or error")
	addLimitFlags(fl, &f.cfg.Limits, &f.limits)
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
	srv, err := server.New(cfg, log, nil)
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	log.Info("serving", zap.Stringer("addr", lis.Addr()))
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
	log.Info("shutting down", zap.Duration("timeout", timeout))
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return stopWithin(srv, sctx, timeout+time.Second, errc, log)
}

// byteSize is a flag value in bytes that accepts K/M/G suffixes (powers of 1024).
type byteSize int64

func (b *byteSize) String() string { return strconv.FormatInt(int64(*b), 10) }
func (b *byteSize) Type() string   { return "bytes" }

func (b *byteSize) Set(s string) error {
	num := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}} {
		if n, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = n, u.mult
			break
		}
	}
	v, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil || v <= 0 || v > (1<<62)/mult {
		return fmt.Errorf("want a positive size like 1048576, 512KiB or 8GiB, got %q", s)
	}
	*b = byteSize(v * mult)
	return nil
}
