package client

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

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
	modelFile, err := os.Open(inPath)
	if err != nil {
		return nil, fmt.Errorf("read model: %w", err)
	}
	locations, err := ExternalLocationsFrom(modelFile)
	modelFile.Close()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Base(inPath), err)
	}
	if opts == nil {
		opts = &quantprepv1.Options{}
	}
	opts = proto.Clone(opts).(*quantprepv1.Options)
	opts.ModelName = filepath.Base(inPath)
	if opts.GetOutputName() == "" {
		opts.OutputName = filepath.Base(outPath)
	}
	if err := (&quantprepv1.PreprocessRequest{Payload: &quantprepv1.PreprocessRequest_Options{Options: opts}}).Validate(); err != nil {
		return nil, err
	}

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
	if err := putFile(inPath, filepath.Join(req, opts.ModelName), true, false); err != nil {
		return nil, fmt.Errorf("place the model in the shared directory: %w", err)
	}
	for _, loc := range locations {
		if err := quantprepv1.CheckLocation(loc); err != nil {
			return nil, fmt.Errorf("external data location: %w", err)
		}
		rel := filepath.FromSlash(path.Clean(loc))
		if err := putFile(filepath.Join(filepath.Dir(inPath), rel), filepath.Join(req, rel), true, false); err != nil {
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

// putFile makes dst the file at src without copying where one file system
// allows, a hard link with link and a rename without, and copies it otherwise
// (copyInto).
func putFile(src, dst string, link, sync bool) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o775); err != nil {
		return err
	}
	var err error
	if link {
		err = os.Link(src, dst)
	} else {
		err = os.Rename(src, dst)
	}
	if err == nil {
		return nil
	}
	return copyInto(src, dst, sync)
}

// moveShared moves the files the summary names from outDir to outPath (the
// model) and beside it (external data), the model last so that it never
// points to external data that is not there yet.
func moveShared(outDir, outPath, outName string, sum *quantprepv1.Summary, sync bool) error {
	var model *quantprepv1.OutputFile
	var files []*quantprepv1.OutputFile
	for _, f := range sum.GetFiles() {
		switch {
		case !f.GetExternalData():
			if f.GetName() != outName || model != nil {
				return fmt.Errorf("the server named the output model %q, not %q", f.GetName(), outName)
			}
			model = f
		default:
			if err := quantprepv1.CheckLocation(f.GetName()); err != nil {
				return fmt.Errorf("server sent a bad external data location: %w", err)
			}
			files = append(files, f)
		}
	}
	if model == nil {
		return fmt.Errorf("the server sent no output model")
	}
	dirs := map[string]bool{}
	for _, f := range append(files, model) {
		src := filepath.Join(outDir, filepath.FromSlash(f.GetName()))
		dst := outPath
		if f != model {
			dst = filepath.Join(filepath.Dir(outPath), filepath.FromSlash(path.Clean(f.GetName())))
			if dst == outPath {
				return fmt.Errorf("server sent external data named like the model, %q", f.GetName())
			}
		}
		if err := putFile(src, dst, false, sync); err != nil {
			return fmt.Errorf("write %s: %w", dst, err)
		}
		dirs[filepath.Dir(dst)] = true
	}
	if sync {
		for d := range dirs {
			if df, err := os.Open(d); err == nil {
				df.Sync()
				df.Close()
			}
		}
	}
	return nil
}

// copyInto copies src beside dst under a temporary name, synced with sync,
// and renames the copy to dst: no one sees a half-written dst.
func copyInto(src, dst string, sync bool) error {
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
	if err == nil && sync {
		err = tmp.Sync()
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
