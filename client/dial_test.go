package client

import (
	"strings"
	"testing"
)

func TestCheckTarget(t *testing.T) {
	tests := []struct {
		target string
		bad    string // part of the error; "" if accepted
	}{
		{"localhost:50051", ""},
		{"127.0.0.1:50051", ""},
		{"[::1]:50051", ""},
		{":50051", ""},
		{"dns:///quantprep.models.svc:50051", ""},
		{"dns://8.8.8.8/quantprep.models.svc:50051", ""},
		{"dns:quantprep:50051", ""},
		{"unix:///run/quantprep.sock", ""},
		{"unix:quantprep.sock", ""},
		{"ipv4:10.0.0.1:50051,10.0.0.2:50051", ""},
		{"passthrough:///localhost:50051", ""},
		{"", "empty"},
		{" localhost:50051", "spaces"},
		{"localhost", "HOST:PORT"},
		{"localhost:", "bad port"},
		{"localhost:99999", "bad port"},
		{"localhost:grpc", "bad port"},
		{"grpc://localhost:50051", "unknown scheme"},
		{"http://localhost:50051", "unknown scheme"},
		{"dns:///quantprep", "HOST:PORT"},
		{"ipv4:10.0.0.1", "HOST:PORT"},
		{"unix:", "no socket path"},
	}
	for _, tt := range tests {
		err := CheckTarget(tt.target)
		switch {
		case tt.bad == "" && err != nil:
			t.Errorf("%q: %v", tt.target, err)
		case tt.bad != "" && (err == nil || !strings.Contains(err.Error(), tt.bad)):
			t.Errorf("%q: got %v, want an error about %s", tt.target, err, tt.bad)
		}
	}
	if _, err := Dial("grpc://localhost:1", DialOptions{}); err == nil {
		t.Error("Dial took a malformed target")
	}
	if _, err := Dial("localhost:1", DialOptions{TLS: &TLSOptions{CertFile: "c.pem"}}); err == nil {
		t.Error("Dial took a client certificate without its key")
	}
}
