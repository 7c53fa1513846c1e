package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/pflag"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/quantprep/quantprep/client"
	"github.com/quantprep/quantprep/client/tlsfiles"
	"github.com/quantprep/quantprep/internal/buildinfo"
	"github.com/quantprep/quantprep/server"
)

// platform holds what `serve` needs to run on a platform: TLS, metrics,
// connection management and draining. Each flag has its QUANTPREP_ variable,
// as every serve flag does.
type platform struct {
	tlsCert, tlsKey, tlsClientCA string
	metricsListen                string
	keepalive                    server.Keepalive
	drainDelay                   time.Duration
	// metricsReady, if set, learns the metrics listener's address (tests).
	metricsReady func(net.Addr)
}

func (p *platform) register(fl *pflag.FlagSet) {
	k := server.DefaultKeepalive
	fl.StringVar(&p.tlsCert, "tls_cert_file", "", "serve TLS with this PEM certificate (chain); reloaded when it changes")
	fl.StringVar(&p.tlsKey, "tls_key_file", "", "the PEM key of --tls_cert_file")
	fl.StringVar(&p.tlsClientCA, "tls_client_ca_file", "", "require client certificates signed by these PEM CAs (mutual TLS); reloaded when it changes")
	fl.StringVar(&p.metricsListen, "metrics_listen", "", "serve Prometheus metrics at http://HOST:PORT/metrics (default: off)")
	fl.DurationVar(&p.keepalive.MaxConnectionIdle, "max_connection_idle", k.MaxConnectionIdle, "close connections idle this long")
	fl.DurationVar(&p.keepalive.MaxConnectionAge, "max_connection_age", k.MaxConnectionAge, "ask clients to reconnect after this long, so that connections spread over new servers")
	fl.DurationVar(&p.keepalive.MaxConnectionAgeGrace, "max_connection_age_grace", k.MaxConnectionAgeGrace, "how long requests may go on on a connection past its max age")
	fl.DurationVar(&p.keepalive.Time, "keepalive_time", k.Time, "ping a connection idle this long")
	fl.DurationVar(&p.keepalive.Timeout, "keepalive_timeout", k.Timeout, "close a connection whose ping is not answered in this time")
	fl.DurationVar(&p.keepalive.MinTime, "keepalive_min_time", k.MinTime, "disconnect clients that ping more often than this")
	p.keepalive.PermitWithoutStream = k.PermitWithoutStream
	fl.DurationVar(&p.drainDelay, "drain_delay", 0, "on SIGTERM, report NOT_SERVING and keep serving this long (for the endpoints to drop the pod) before the graceful stop")
}

// validate checks the flags before anything starts.
func (p *platform) validate() error {
	if (p.tlsCert == "") != (p.tlsKey == "") {
		return usagef("--tls_cert_file and --tls_key_file go together")
	}
	if p.tlsClientCA != "" && p.tlsCert == "" {
		return usagef("--tls_client_ca_file needs --tls_cert_file and --tls_key_file")
	}
	for name, d := range map[string]time.Duration{"max_connection_idle": p.keepalive.MaxConnectionIdle, "max_connection_age": p.keepalive.MaxConnectionAge,
		"max_connection_age_grace": p.keepalive.MaxConnectionAgeGrace, "keepalive_time": p.keepalive.Time, "keepalive_timeout": p.keepalive.Timeout,
		"keepalive_min_time": p.keepalive.MinTime} {
		if d <= 0 {
			return usagef("--%s must be positive, got %v", name, d)
		}
	}
	if p.drainDelay < 0 {
		return usagef("--drain_delay must not be negative, got %v", p.drainDelay)
	}
	if p.metricsListen != "" {
		if _, _, err := net.SplitHostPort(p.metricsListen); err != nil {
			return usagef("--metrics_listen %q: %v", p.metricsListen, err)
		}
	}
	return nil
}

// options builds the server's options; stop ends what they started (the
// metrics listener, the trace exporter).
func (p *platform) options(ctx context.Context, log *zap.Logger) (opts []server.Option, stop func(), err error) {
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	defer func() {
		if err != nil {
			stop()
		}
	}()
	opts = append(opts, server.WithKeepalive(p.keepalive))
	if p.tlsCert != "" {
		cfg, err := tlsfiles.ServerConfig(p.tlsCert, p.tlsKey, p.tlsClientCA, func(err error) {
			log.Error("TLS files changed but did not load", zap.Error(err))
		})
		if err != nil {
			return nil, stop, usagef("%v", err)
		}
		opts = append(opts, server.WithTLS(cfg))
	}
	if p.metricsListen != "" {
		reg := prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		lis, err := net.Listen("tcp", p.metricsListen)
		if err != nil {
			return nil, stop, fmt.Errorf("--metrics_listen: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
		hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go hs.Serve(lis)
		stops = append(stops, func() { hs.Close() })
		log.Info("serving metrics", zap.String("metrics_addr", lis.Addr().String()))
		if p.metricsReady != nil {
			p.metricsReady(lis.Addr())
		}
		opts = append(opts, server.WithMetrics(reg))
	}
	tp, err := tracerFromEnv(ctx)
	if err != nil {
		return nil, stop, err
	}
	if tp != nil {
		stops = append(stops, func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := tp.Shutdown(sctx); err != nil {
				log.Warn("flushing traces", zap.Error(err))
			}
		})
		log.Info("exporting traces over OTLP")
		opts = append(opts, server.WithTracerProvider(tp))
	}
	return opts, stop, nil
}

// tracerFromEnv is an OTLP trace exporter configured by the standard
// OTEL_EXPORTER_OTLP_* variables, or nil when no endpoint is set: tracing
// costs nothing unless asked for.
func tracerFromEnv(ctx context.Context) (*sdktrace.TracerProvider, error) {
	if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
		return nil, nil
	}
	exp, err := otlptracegrpc.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("OTLP trace exporter: %w", err)
	}
	// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, read last, win.
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", "quantprep"), attribute.String("service.version", buildinfo.Version())),
		resource.WithTelemetrySDK(), resource.WithHost(), resource.WithFromEnv())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res)), nil
}

// remote holds the flags that reach a quantprep server, for preprocess and
// version. Each has an environment variable, named in its usage; a flag on
// the command line wins.
type remote struct {
	server                    string
	tls                       bool
	caFile, certFile, keyFile string
	serverName                string
	timeout                   time.Duration
	sharedDir                 string
	fs                        *pflag.FlagSet
}

// register adds the flags to fl; with shared, --shared_dir too (preprocess's).
func (r *remote) register(fl *pflag.FlagSet, shared bool) {
	r.fs = pflag.NewFlagSet("remote", pflag.ContinueOnError)
	r.fs.StringVar(&r.server, "server", "", "run on the quantprep server at this gRPC target (HOST:PORT, dns:///HOST:PORT for every address, unix:PATH) instead of in this process")
	r.fs.BoolVar(&r.tls, "tls", false, "dial the server with TLS (implied by the other --tls_ flags); the system's CAs unless --tls_ca_file")
	r.fs.StringVar(&r.caFile, "tls_ca_file", "", "trust the PEM CA certificates in this file for the server's certificate")
	r.fs.StringVar(&r.certFile, "tls_cert_file", "", "the client's PEM certificate, for servers that require mutual TLS")
	r.fs.StringVar(&r.keyFile, "tls_key_file", "", "the PEM key of --tls_cert_file")
	r.fs.StringVar(&r.serverName, "tls_server_name", "", "the name to check the server's certificate against (default: the target's host)")
	r.fs.DurationVar(&r.timeout, "timeout", 0, "give up after this long, e.g. 10m (default: no limit)")
	if shared {
		r.fs.StringVar(&r.sharedDir, "shared_dir", "", "with --server: a volume this client shares with the server (the server's --shared_dir, as mounted here); the model and the output pass through it, not the connection")
	}
	r.fs.VisitAll(func(f *pflag.Flag) { f.Usage += fmt.Sprintf(" [$%s]", remoteEnv(f.Name)) })
	fl.AddFlagSet(r.fs)
}

// remoteEnv names a client flag's variable: QUANTPREP_ and the flag, except
// for the client's certificate and key, QUANTPREP_TLS_CLIENT_CERT_FILE and
// QUANTPREP_TLS_CLIENT_KEY_FILE (as the Python client reads them), so that a
// container that sets serve's QUANTPREP_TLS_CERT_FILE does not hand the
// server's certificate to a client.
func remoteEnv(flag string) string {
	switch flag {
	case "tls_cert_file":
		return envPrefix + "TLS_CLIENT_CERT_FILE"
	case "tls_key_file":
		return envPrefix + "TLS_CLIENT_KEY_FILE"
	}
	return envName(flag)
}

// applyEnv fills the flags not given from their variables (QUANTPREP_SERVER, ...).
func (r *remote) applyEnv() error {
	var err error
	r.fs.VisitAll(func(f *pflag.Flag) {
		name := remoteEnv(f.Name)
		v, ok := os.LookupEnv(name)
		if err != nil || f.Changed || !ok {
			return
		}
		if serr := f.Value.Set(v); serr != nil {
			err = usagef("$%s=%q: %v", name, v, serr)
		}
	})
	return err
}

// dial connects to the server; its mistakes are usage errors.
func (r *remote) dial() (*grpc.ClientConn, error) {
	o := client.DialOptions{Extra: server.ClientOptions()}
	if r.tls || r.caFile != "" || r.certFile != "" || r.keyFile != "" || r.serverName != "" {
		o.TLS = &client.TLSOptions{CAFile: r.caFile, CertFile: r.certFile, KeyFile: r.keyFile, ServerName: r.serverName}
	}
	conn, err := client.Dial(r.server, o)
	if err != nil {
		return nil, usagef("--server %q: %v", r.server, err)
	}
	return conn, nil
}
