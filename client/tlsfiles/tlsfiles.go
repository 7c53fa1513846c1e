// Package tlsfiles builds TLS configurations from PEM files and reloads them
// when the files change, as cert-manager or a Kubernetes Secret volume rotates
// them: each handshake checks the files' size and modification time (a stat,
// no read) and reloads what changed. A reload that fails (a file caught half
// written) keeps the previous certificate and reports the error, so that a
// rotation never takes a working server down. Both quantprep's server and its
// Go client use it.
package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// stamp identifies a version of a file without reading it.
type stamp struct {
	size int64
	mod  time.Time
}

func stampOf(paths ...string) ([]stamp, error) {
	out := make([]stamp, len(paths))
	for i, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		out[i] = stamp{st.Size(), st.ModTime()}
	}
	return out, nil
}

func sameStamps(a, b []stamp) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].size != b[i].size || !a[i].mod.Equal(b[i].mod) {
			return false
		}
	}
	return true
}

// reloader holds a value loaded from files and reloads it when they change.
type reloader[T any] struct {
	paths   []string
	load    func() (T, error)
	onError func(error)

	mu     sync.Mutex
	stamps []stamp
	value  T
}

func newReloader[T any](load func() (T, error), onError func(error), paths ...string) (*reloader[T], error) {
	r := &reloader[T]{paths: paths, load: load, onError: onError}
	st, err := stampOf(paths...)
	if err != nil {
		return nil, err
	}
	v, err := load()
	if err != nil {
		return nil, err
	}
	r.stamps, r.value = st, v
	return r, nil
}

// get returns the current value, reloading it first if a file changed.
func (r *reloader[T]) get() T {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, err := stampOf(r.paths...)
	if err == nil && sameStamps(st, r.stamps) {
		return r.value
	}
	if err == nil {
		var v T
		if v, err = r.load(); err == nil {
			r.stamps, r.value = st, v
			return v
		}
	}
	if r.onError != nil {
		r.onError(fmt.Errorf("reloading %v (keeping the previous one): %w", r.paths, err))
	}
	return r.value
}

// KeyPair is a certificate and its private key, reloaded when either file changes.
type KeyPair struct{ r *reloader[*tls.Certificate] }

// NewKeyPair loads the PEM certificate chain and key; onError, if not nil,
// learns of failed reloads.
func NewKeyPair(certFile, keyFile string, onError func(error)) (*KeyPair, error) {
	r, err := newReloader(func() (*tls.Certificate, error) {
		c, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		return &c, nil
	}, onError, certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("TLS key pair %s, %s: %w", certFile, keyFile, err)
	}
	return &KeyPair{r}, nil
}

// Certificate returns the current certificate.
func (k *KeyPair) Certificate() *tls.Certificate { return k.r.get() }

// Pool is a set of CA certificates from a PEM file, reloaded when it changes.
type Pool struct{ r *reloader[*x509.CertPool] }

// NewPool loads the PEM CA certificates in file.
func NewPool(file string, onError func(error)) (*Pool, error) {
	r, err := newReloader(func() (*x509.CertPool, error) {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		p := x509.NewCertPool()
		if !p.AppendCertsFromPEM(b) {
			return nil, errors.New("no PEM certificate in it")
		}
		return p, nil
	}, onError, file)
	if err != nil {
		return nil, fmt.Errorf("CA file %s: %w", file, err)
	}
	return &Pool{r}, nil
}

// CertPool returns the current pool.
func (p *Pool) CertPool() *x509.CertPool { return p.r.get() }

// ServerConfig is a server's TLS configuration: its certificate from certFile
// and keyFile, and, if clientCAFile is set, mutual TLS: clients must present a
// certificate signed by one of its CAs. Every file is reloaded when it changes.
func ServerConfig(certFile, keyFile, clientCAFile string, onError func(error)) (*tls.Config, error) {
	if certFile == "" || keyFile == "" {
		return nil, errors.New("a TLS server needs both a certificate and a key file")
	}
	kp, err := NewKeyPair(certFile, keyFile, onError)
	if err != nil {
		return nil, err
	}
	var cas *Pool
	if clientCAFile != "" {
		if cas, err = NewPool(clientCAFile, onError); err != nil {
			return nil, err
		}
	}
	base := &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"h2"}}
	cfg := base.Clone()
	cfg.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		c := base.Clone()
		c.Certificates = []tls.Certificate{*kp.Certificate()}
		if cas != nil {
			c.ClientCAs = cas.CertPool()
			c.ClientAuth = tls.RequireAndVerifyClientCert
		}
		return c, nil
	}
	return cfg, nil
}

// ClientConfig is a client's TLS configuration: it trusts the CAs in caFile
// (the system's if empty), presents the certificate in certFile and keyFile
// if they are set (reloaded when they change), and checks the server's name
// against serverName if set (else the name dialled).
func ClientConfig(caFile, certFile, keyFile, serverName string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if caFile != "" {
		p, err := NewPool(caFile, nil)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = p.CertPool()
	}
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("a client certificate needs both its certificate and its key file")
	}
	if certFile != "" {
		kp, err := NewKeyPair(certFile, keyFile, nil)
		if err != nil {
			return nil, err
		}
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return kp.Certificate(), nil
		}
	}
	return cfg, nil
}
