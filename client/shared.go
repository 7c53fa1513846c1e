package client

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"

	"google.golang.org/grpc"

	quantprepv1 "github.com/quantprep/quantprep/api/quantprep/v1"
)

// PreprocessShared is PreprocessFile for a client that shares a volume with the
// server (a sidecar beside its application): sharedDir is that volume as this
// process sees it, the server's --shared_dir wherever it is mounted here. The
// model and its external data are hard-linked into a new directory of the
// volume (copied where the model lives on another file system), the request
// names them there, and the server reads them in place and writes its output
// into that directory; the output files are then renamed to outPath and beside
// it. No byte of the model or of the output crosses the connection. The
// directory is removed on every way out; the output appears only once the
// summary has arrived, the model last. The client and the server must run as
// one user or share a group (the directory is group-writable), and the model
// must not change until the call returns.
func PreprocessShared(ctx context.Context, conn grpc.ClientConnInterface, sharedDir, inPath, outPath string, opts *quantprepv1.Options, onProgress func(*quantprepv1.Progress)) (*quantprepv1.Summary, error) {
	modelFile, locations, opts, err := prepare(inPath, outPath, opts)
	if err != nil {
		return nil, err
	}
	modelFile.Close()

	req, err := os.MkdirTemp(sharedDir, ".quantprep-*")
	if err != nil {
		return nil, fmt.Errorf("shared directory: %w", err)
	}
	defer os.RemoveAll(req)
	// MkdirTemp makes it private; the server reads it and creates the output
	// directory in it.
	if err := os.Chmod(req, 0o775); err != nil {
		return nil, fmt.Errorf("shared directory: %w", err)
	}
	if err := placeShared(inPath, filepath.Join(req, opts.ModelName)); err != nil {
		return nil, fmt.Errorf("place the model in the shared directory: %w", err)
	}
	for _, loc := range locations {
		if err := quantprepv1.CheckLocation(loc); err != nil {
			return nil, fmt.Errorf("external data location: %w", err)
		}
		rel := filepath.FromSlash(path.Clean(loc))
		if err := placeShared(filepath.Join(filepath.Dir(inPath), rel), filepath.Join(req, rel)); err != nil {
			return nil, fmt.Errorf("place external data %q in the shared directory: %w", loc, err)
		}
	}
	name := filepath.Base(req)
	m := &quantprepv1.SharedModel{Path: name + "/" + opts.ModelName, OutputDir: name + "/out"}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := quantprepv1.NewPreprocessServiceClient(conn).Preprocess(ctx)
	if err != nil {
		return nil, err
	}
	if err := stream.Send(&quantprepv1.PreprocessRequest{Payload: &quantprepv1.PreprocessRequest_Options{Options: opts}}); err == nil {
		if err = awaitAccept(stream, acceptWait); err == nil {
			if err = stream.Send(&quantprepv1.PreprocessRequest{Payload: &quantprepv1.PreprocessRequest_SharedModel{SharedModel: m}}); err == nil {
				stream.CloseSend()
			}
		}
	}
	// A failed send shows as the status that Recv returns.
	var sum *quantprepv1.Summary
	for sum == nil {
		resp, err := recv(stream)
		if err != nil {
			return nil, err
		}
		switch p := resp.GetPayload().(type) {
		case *quantprepv1.PreprocessResponse_Progress:
			if onProgress != nil {
				onProgress(p.Progress)
			}
		case *quantprepv1.PreprocessResponse_Summary:
			sum = p.Summary
		default:
			return nil, fmt.Errorf("the server sent %T for a shared request", p)
		}
	}
	if err := moveShared(filepath.Join(req, "out"), outPath, opts.GetOutputName(), sum, opts.GetFsync()); err != nil {
		return nil, err
	}
	return sum, nil
}

// placeShared makes dst, in the shared directory, the file at src: a hard
// link, or a copy where they are on different file systems.
func placeShared(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o775); err != nil {
		return err
	}
	if os.Link(src, dst) == nil {
		return nil
	}
	return copyInto(src, dst)
}

// moveShared takes the files the summary names from outDir as the output:
// the model to outPath, its external data beside it, renamed into place by
// output.commit only once all are there, the model last.
func moveShared(outDir, outPath, outName string, sum *quantprepv1.Summary, sync bool) error {
	out := newOutput(outPath, sync)
	defer out.discard()
	for _, f := range sum.GetFiles() {
		loc := ""
		if f.GetExternalData() {
			loc = f.GetName()
		} else if f.GetName() != outName {
			return fmt.Errorf("the server named the output model %q, not %q", f.GetName(), outName)
		}
		// create checks loc before it is joined to outDir.
		if err := out.adopt(loc, filepath.Join(outDir, filepath.FromSlash(f.GetName()))); err != nil {
			return err
		}
	}
	return out.commit()
}

// copyInto copies src beside dst under a temporary name and renames the copy
// to dst: no one sees a half-written dst.
func copyInto(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp*")
	if err != nil {
		return err
	}
	err = tmp.Chmod(0o644)
	if err == nil {
		_, err = io.Copy(tmp, in)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}
