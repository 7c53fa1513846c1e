package tlsfiles_test

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/quantprep/quantprep/client/tlsfiles"
	"github.com/quantprep/quantprep/client/tlsfiles/tlstest"
)

// handshake connects a client with cfg to a server with srv on loopback and
// returns the server certificate the client saw, or why the connection failed.
// The server answers one byte once it has accepted the client (TLS 1.3 checks
// the client's certificate after the client's handshake is done).
func handshake(t *testing.T, srv, cfg *tls.Config) (*x509.Certificate, error) {
	t.Helper()
	lis, err := tls.Listen("tcp", "127.0.0.1:0", srv)
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	go func() {
		c, err := lis.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		if c.(*tls.Conn).Handshake() == nil {
			c.Write([]byte{1})
		}
	}()
	c, err := tls.Dial("tcp", lis.Addr().String(), cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != nil {
		return nil, err
	}
	return c.ConnectionState().PeerCertificates[0], nil
}

// TestReloadOnRotation rotates the server's certificate and CA files under a
// running configuration: the next handshake uses the new ones; a rotation
// caught half-written keeps the old one and reports it.
func TestReloadOnRotation(t *testing.T) {
	dir := t.TempDir()
	pki, err := tlstest.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	var reloadErrs []error
	srv, err := tlsfiles.ServerConfig(pki.ServerCert, pki.ServerKey, pki.CA, func(err error) { reloadErrs = append(reloadErrs, err) })
	if err != nil {
		t.Fatal(err)
	}
	cli, err := tlsfiles.ClientConfig(pki.CA, pki.ClientCert, pki.ClientKey, "localhost")
	if err != nil {
		t.Fatal(err)
	}
	first, err := handshake(t, srv, cli)
	if err != nil {
		t.Fatalf("mutual TLS handshake: %v", err)
	}
	noCert, err := tlsfiles.ClientConfig(pki.CA, "", "", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := handshake(t, srv, noCert); err == nil {
		t.Error("a client without a certificate was accepted")
	}

	// Rotate: a new server certificate from the same CA. Modification times
	// may not move within a second on every filesystem: make them.
	rot := t.TempDir()
	pki2, err := tlstest.Write(rot)
	if err != nil {
		t.Fatal(err)
	}
	for from, to := range map[string]string{pki2.ServerCert: pki.ServerCert, pki2.ServerKey: pki.ServerKey, pki2.CA: pki.CA} {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, 0o600); err != nil {
			t.Fatal(err)
		}
		later := time.Now().Add(time.Minute)
		os.Chtimes(to, later, later)
	}
	cli2, err := tlsfiles.ClientConfig(pki2.CA, pki2.ClientCert, pki2.ClientKey, "localhost")
	if err != nil {
		t.Fatal(err)
	}
	second, err := handshake(t, srv, cli2)
	if err != nil {
		t.Fatalf("handshake after rotation: %v", err)
	}
	if second.SerialNumber.Cmp(first.SerialNumber) == 0 {
		t.Error("the server still presents the old certificate after rotation")
	}
	if _, err := handshake(t, srv, cli); err == nil {
		t.Error("the old CA's client certificate is still accepted after the CA rotated")
	}

	// A half-written key: the previous pair stays, and the error is reported.
	if err := os.WriteFile(pki.ServerKey, []byte("-----BEGIN EC PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(2 * time.Minute)
	os.Chtimes(pki.ServerKey, later, later)
	third, err := handshake(t, srv, cli2)
	if err != nil {
		t.Fatalf("handshake with a broken key file: %v", err)
	}
	if third.SerialNumber.Cmp(second.SerialNumber) != 0 {
		t.Error("a broken rotation replaced the working certificate")
	}
	if len(reloadErrs) == 0 {
		t.Error("a broken rotation was not reported")
	}
	if _, err := tlsfiles.ServerConfig(filepath.Join(dir, "missing.pem"), pki.ServerKey, "", nil); err == nil {
		t.Error("a missing certificate file was accepted")
	}
}
