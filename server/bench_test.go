package server

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/quantprep/quantprep/client"
	"github.com/quantprep/quantprep/pipeline"
)

// BenchmarkRoundTrip compares a remote run (upload, spool, pipeline, download)
// with the in-process pipeline on a model of 16 MiB of weights, so the cost of
// the transport shows as the difference.
func BenchmarkRoundTrip(b *testing.B) {
	dir := b.TempDir()
	in := writeModel(b, testModel(2<<20), dir, "m.onnx")
	opts := skipAll()
	b.Run("in-process", func(b *testing.B) {
		b.SetBytes(16 << 20)
		for b.Loop() {
			if _, err := pipeline.Run(context.Background(), in, filepath.Join(dir, "local.onnx"), PipelineOptions(opts), nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("remote", func(b *testing.B) {
		env := startServer(b, Config{}, nil)
		b.SetBytes(16 << 20)
		for b.Loop() {
			if _, err := client.PreprocessFile(context.Background(), env.conn, in, filepath.Join(dir, "remote.onnx"), opts, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}
