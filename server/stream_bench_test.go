package server

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/quantprep/quantprep/client"
	"github.com/quantprep/quantprep/pipeline"
)

// BenchmarkStream measures the remote path over loopback TCP, as
// `quantprep serve` and `preprocess --server` run it: upload, spool, a run,
// the output streamed back and written. "transport" replaces the pipeline by
// a file copy, so that only the streams and the spool cost; "skip-all" runs
// the pipeline with every step skipped (load and save). The model is
// synthetic (64 MiB of weights) unless QUANTPREP_BENCH_MODEL names a file.
// B/op and allocs/op count client and server together.
func BenchmarkStream(b *testing.B) {
	in := os.Getenv("QUANTPREP_BENCH_MODEL")
	dir := b.TempDir()
	if in == "" {
		in = writeModel(b, testModel(8<<20), dir, "m.onnx")
	}
	st, err := os.Stat(in)
	if err != nil {
		b.Fatal(err)
	}
	copyRunner := RunnerFunc(func(_ context.Context, inPath, outPath string, _ pipeline.Options, _ func(pipeline.Event)) (*pipeline.Report, error) {
		return &pipeline.Report{Files: []string{outPath}}, copyFile(inPath, outPath)
	})
	for _, c := range []struct {
		name   string
		runner Runner
	}{{"transport", copyRunner}, {"skip-all", nil}} {
		b.Run(c.name, func(b *testing.B) {
			srv, err := New(Config{TempDir: b.TempDir()}, nil, c.runner)
			if err != nil {
				b.Fatal(err)
			}
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			go srv.Serve(lis)
			defer srv.Stop()
			conn, err := client.Dial(lis.Addr().String(), client.DialOptions{Extra: ClientOptions()})
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			out := filepath.Join(dir, "out.onnx")
			b.SetBytes(2 * st.Size()) // up and down
			b.ReportAllocs()
			for b.Loop() {
				if _, err := client.PreprocessFile(context.Background(), conn, in, out, skipAll(), nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
