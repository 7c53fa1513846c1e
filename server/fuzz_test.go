package server

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	quantprepv1 "github.com/quantprep/quantprep/api/quantprep/v1"
)

// fakeStream feeds the handler a fixed list of requests and collects its answers.
type fakeStream struct {
	grpc.ServerStream
	ctx  context.Context
	reqs []*quantprepv1.PreprocessRequest
	sent []*quantprepv1.PreprocessResponse
}

func (f *fakeStream) Context() context.Context { return f.ctx }

func (f *fakeStream) Recv() (*quantprepv1.PreprocessRequest, error) {
	if len(f.reqs) == 0 {
		return nil, io.EOF
	}
	r := f.reqs[0]
	f.reqs = f.reqs[1:]
	return r, nil
}

// RecvMsg serves guardedStream, which receives into a *pooledRequest.
func (f *fakeStream) RecvMsg(m any) error {
	r, err := f.Recv()
	if err == nil {
		m.(*pooledRequest).req = r
	}
	return err
}

func (f *fakeStream) Send(r *quantprepv1.PreprocessResponse) error {
	f.sent = append(f.sent, r)
	return nil
}

// fuzzLocations are the external data names a fuzzed chunk may carry: the
// test model's own, and bad ones.
var fuzzLocations = []string{"a.bin", "b.bin", "../a.bin", "/abs", "", "sub/../a.bin", "m.onnx", "c.bin", `..\a.bin`,
	"m.onnx/x.bin", "a.bin/x.bin", strings.Repeat("d/", 40) + "x", strings.Repeat("n", 300)}

// fuzzShared are the paths a fuzzed shared_model may carry, in the shared
// directory that fuzzSharedDir makes: the model, links out of the directory,
// and bad names.
var fuzzShared = []string{"s/m.onnx", "s/o", "s/o2", "s/link.onnx", "escape/m.onnx", "escape/o", "s/exists", "s/outdir",
	"../m.onnx", "/abs", "", "s", "s/m.onnx/o", "s/a.bin", `s\m.onnx`, strings.Repeat("d/", 40) + "x", strings.Repeat("n", 300)}

// fuzzSharedDir makes the shared directory for FuzzPreprocess: the model and
// its external data under s/, an existing s/exists, and links out to outside.
func fuzzSharedDir(f *testing.F, model, aBin, bBin []byte, outside string) string {
	shared := f.TempDir()
	s := filepath.Join(shared, "s")
	for _, err := range []error{
		os.MkdirAll(filepath.Join(s, "exists"), 0o755),
		os.WriteFile(filepath.Join(s, "m.onnx"), model, 0o644),
		os.WriteFile(filepath.Join(s, "a.bin"), aBin, 0o644),
		os.WriteFile(filepath.Join(s, "b.bin"), bBin, 0o644),
		os.WriteFile(filepath.Join(outside, "m.onnx"), model, 0o644),
		os.Symlink(filepath.Join(outside, "m.onnx"), filepath.Join(s, "link.onnx")),
		os.Symlink(outside, filepath.Join(s, "outdir")),
		os.Symlink(outside, filepath.Join(shared, "escape")),
	} {
		if err != nil {
			f.Fatal(err)
		}
	}
	return shared
}

// decodeRequests turns fuzz bytes into a request list: each record is a kind
// byte, a length byte and that many payload bytes.
func decodeRequests(b []byte, model, aBin, bBin []byte) []*quantprepv1.PreprocessRequest {
	var reqs []*quantprepv1.PreprocessRequest
	for len(b) >= 2 {
		kind, n := b[0], int(b[1])
		b = b[2:]
		payload := b[:min(n, len(b))]
		b = b[len(payload):]
		switch kind % 9 {
		case 0: // options, from the payload's bytes if they parse
			o := &quantprepv1.Options{}
			if len(payload) == 0 || proto.Unmarshal(payload, o) != nil {
				o = skipAll()
			}
			o.ModelName = "m.onnx"
			reqs = append(reqs, optsMsg(o))
		case 1: // the real model, in one piece
			reqs = append(reqs, modelMsg(model))
		case 2: // a slice of the model, or raw bytes
			reqs = append(reqs, modelMsg(payload))
		case 3, 4: // a real external file
			loc, data := "a.bin", aBin
			if kind%8 == 4 {
				loc, data = "b.bin", bBin
			}
			reqs = append(reqs, extMsg(loc, data))
		case 5: // a named chunk of raw bytes
			loc := ""
			if len(payload) > 0 {
				loc = fuzzLocations[int(payload[0])%len(fuzzLocations)]
			}
			reqs = append(reqs, extMsg(loc, payload))
		case 6:
			reqs = append(reqs, &quantprepv1.PreprocessRequest{})
		case 7: // a truncated model
			reqs = append(reqs, modelMsg(model[:min(n*16, len(model))]))
		case 8: // a shared model and output directory, by name
			p, o := "s/m.onnx", "s/o"
			if len(payload) > 0 {
				p = fuzzShared[int(payload[0])%len(fuzzShared)]
			}
			if len(payload) > 1 {
				o = fuzzShared[int(payload[1])%len(fuzzShared)]
			}
			reqs = append(reqs, sharedMsg(p, o))
		}
	}
	return reqs
}

// FuzzPreprocess drives the stream handler with arbitrary request sequences.
// Whatever comes, it must not panic, must answer with a client-error status or
// success (never Internal), and must leave no spool files.
func FuzzPreprocess(f *testing.F) {
	dir := f.TempDir()
	mp := writeModel(f, testModel(32), dir, "m.onnx", "a.bin", "b.bin")
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	model, aBin, bBin := read(mp), read(filepath.Join(dir, "a.bin")), read(filepath.Join(dir, "b.bin"))

	f.Add([]byte{0, 0, 1, 0, 3, 0, 4, 0})       // a valid request
	f.Add([]byte{0, 0, 1, 0, 3, 0, 4, 0, 3, 0}) // a.bin again
	f.Add([]byte{1, 0, 0, 0})                   // model before options
	f.Add([]byte{0, 0, 7, 3})                   // truncated model
	f.Add([]byte{0, 0, 2, 5, 'h', 'e', 'l', 'l', 'o'})
	f.Add([]byte{0, 0, 1, 0, 5, 2, 2, 'x'}) // "../a.bin"
	f.Add([]byte{0, 4, 0x48, 0x02, 0x50, 0x01, 1, 0, 3, 0, 4, 0})
	f.Add([]byte{0, 0, 8, 0})       // a valid shared request
	f.Add([]byte{0, 0, 8, 2, 3, 4}) // a link out, into a link out
	f.Add([]byte{0, 0, 8, 2, 0, 6}) // into an existing directory

	// What no request may read or write: outside; the shared directory must
	// hold only what it held, plus the output directory of a success.
	outside := f.TempDir()
	shared := fuzzSharedDir(f, model, aBin, bBin, outside)

	tmp := f.TempDir()
	cfg := Config{TempDir: tmp, SharedDir: shared, ChunkSize: 64, MaxUploadBytes: int64(len(model) + len(aBin) + len(bBin) + 64)}.withDefaults()
	cfg.Limits = cfg.Limits.withDefaults(cfg)
	svc := newPreprocessService(cfg, zap.NewNop(), PipelineRunner, newPool(1, 4, nil))
	f.Cleanup(svc.pool.close)
	f.Fuzz(func(t *testing.T, b []byte) {
		stream := &fakeStream{ctx: context.Background(), reqs: decodeRequests(b, model, aBin, bBin)}
		err := svc.Preprocess(stream)
		switch c := status.Code(err); c {
		case codes.OK:
			if len(stream.sent) == 0 || stream.sent[len(stream.sent)-1].GetSummary() == nil {
				t.Errorf("success without a summary")
			}
		case codes.InvalidArgument, codes.ResourceExhausted, codes.FailedPrecondition:
		default:
			t.Errorf("unexpected %v: %v", c, err)
		}
		if msg := status.Convert(err).Message(); strings.Contains(msg, tmp) || strings.Contains(msg, "req-") {
			t.Errorf("a server path in %q", msg)
		}
		if entries, _ := os.ReadDir(tmp); len(entries) > 0 {
			t.Errorf("left %d spool entries", len(entries))
		}
		if msg := status.Convert(err).Message(); strings.Contains(msg, shared) || strings.Contains(msg, outside) {
			t.Errorf("a server path in %q", msg)
		}
		if entries, _ := os.ReadDir(outside); len(entries) != 1 {
			t.Errorf("%d entries outside the shared directory, want 1", len(entries))
		}
		// A success leaves its output directory (s/o or s/o2); remove it for
		// the next input. Anything else new is a leak.
		for _, o := range []string{"o", "o2"} {
			os.RemoveAll(filepath.Join(shared, "s", o))
		}
		if entries, _ := os.ReadDir(filepath.Join(shared, "s")); len(entries) != 6 {
			t.Errorf("%d entries in the shared directory, want 6", len(entries))
		}
	})
}
