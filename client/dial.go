package client

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	quantprepv1 "github.com/quantprep/quantprep/api/quantprep/v1"
	"github.com/quantprep/quantprep/client/tlsfiles"
)

// DialOptions configure Dial. The zero value dials in plaintext, as suits a
// quantprep sidecar on localhost.
type DialOptions struct {
	// TLS, if not nil, dials with TLS.
	TLS *TLSOptions
	// Keepalive is the interval of HTTP/2 pings on an idle connection; zero
	// means DefaultKeepalive. It must not be below the server's
	// --keepalive_min_time (30s by default), or the server hangs up.
	Keepalive time.Duration
	// Extra are further grpc options, applied after Dial's own.
	Extra []grpc.DialOption
}

// TLSOptions are the files of a TLS client.
type TLSOptions struct {
	// CAFile holds the PEM CA certificates that sign the server's certificate;
	// empty means the system's roots.
	CAFile string
	// CertFile and KeyFile are the client's certificate and key, for servers
	// that require mutual TLS; reloaded when they change.
	CertFile, KeyFile string
	// ServerName overrides the name checked against the server's certificate.
	ServerName string
}

// DefaultKeepalive is the client's ping interval on idle connections.
const DefaultKeepalive = time.Minute

// ServiceConfig is the client's gRPC service config: round_robin over every
// address the target resolves to (a headless Service's pods, with dns:///),
// and retries of Preprocess and ServerInfo on UNAVAILABLE and
// RESOURCE_EXHAUSTED. gRPC retries a stream only while it is uncommitted:
// PreprocessFile waits for the server to accept the stream before it sends any
// model byte, so a stream turned away (busy, draining, not reachable) is tried
// again on the same or another server without resending the model.
const ServiceConfig = `{
  "loadBalancingConfig": [{"round_robin": {}}],
  "methodConfig": [{
    "name": [{"service": "quantprep.v1.PreprocessService"}],
    "retryPolicy": {
      "maxAttempts": 5,
      "initialBackoff": "0.5s",
      "maxBackoff": "8s",
      "backoffMultiplier": 2,
      "retryableStatusCodes": ["UNAVAILABLE", "RESOURCE_EXHAUSTED"]
    }
  }]
}`

// schemes are the gRPC name-resolver schemes a target may name.
var schemes = map[string]bool{"dns": true, "unix": true, "unix-abstract": true, "ipv4": true, "ipv6": true, "passthrough": true}

// CheckTarget reports whether target is a gRPC target quantprep can dial:
// HOST:PORT, [IPv6]:PORT, dns:///HOST:PORT (dns://RESOLVER/HOST:PORT),
// unix:PATH or unix:///PATH, ipv4:ADDR:PORT,..., passthrough:///HOST:PORT.
// gRPC itself would take anything and fail later as UNAVAILABLE; this names
// the mistake at once.
func CheckTarget(target string) error {
	if strings.TrimSpace(target) != target || target == "" {
		return fmt.Errorf("target %q: empty or padded with spaces", target)
	}
	scheme, rest, hasScheme := strings.Cut(target, ":")
	if hasScheme && schemes[scheme] {
		endpoint := rest
		if strings.HasPrefix(rest, "//") {
			u, err := url.Parse(target)
			if err != nil {
				return fmt.Errorf("target %q: %v", target, err)
			}
			endpoint = strings.TrimPrefix(u.Path, "/")
			if u.Opaque != "" {
				endpoint = u.Opaque
			}
		}
		switch scheme {
		case "unix", "unix-abstract":
			if endpoint == "" && !strings.HasPrefix(rest, "//") {
				return fmt.Errorf("target %q: no socket path", target)
			}
			return nil
		case "ipv4", "ipv6":
			for _, a := range strings.Split(endpoint, ",") {
				if err := checkHostPort(target, a); err != nil {
					return err
				}
			}
			return nil
		}
		return checkHostPort(target, endpoint)
	}
	if strings.Contains(target, "://") {
		return fmt.Errorf("target %q: unknown scheme %q (want HOST:PORT, dns:///HOST:PORT or unix:PATH)", target, scheme)
	}
	return checkHostPort(target, target)
}

func checkHostPort(target, hp string) error {
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		return fmt.Errorf("target %q: want HOST:PORT: %v", target, err)
	}
	if strings.ContainsAny(host, "/ ") {
		return fmt.Errorf("target %q: bad host %q", target, host)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("target %q: bad port %q", target, port)
	}
	return nil
}

// Dial opens a client connection to a quantprep server at target (see
// CheckTarget for the forms), with the service config above, keepalive pings,
// and TLS if o.TLS is set. The connection is lazy: it connects on first use.
func Dial(target string, o DialOptions) (*grpc.ClientConn, error) {
	if err := CheckTarget(target); err != nil {
		return nil, err
	}
	creds := insecure.NewCredentials()
	if o.TLS != nil {
		cfg, err := tlsfiles.ClientConfig(o.TLS.CAFile, o.TLS.CertFile, o.TLS.KeyFile, o.TLS.ServerName)
		if err != nil {
			return nil, err
		}
		creds = credentials.NewTLS(cfg)
	}
	ka := o.Keepalive
	if ka <= 0 {
		ka = DefaultKeepalive
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultServiceConfig(ServiceConfig),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: ka, Timeout: 20 * time.Second}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxRecv)),
	}
	return grpc.NewClient(target, append(opts, o.Extra...)...)
}

// ServerInfo asks the server its version and limits.
func ServerInfo(ctx context.Context, conn grpc.ClientConnInterface) (*quantprepv1.ServerInfoResponse, error) {
	return quantprepv1.NewPreprocessServiceClient(conn).ServerInfo(ctx, &quantprepv1.ServerInfoRequest{})
}
