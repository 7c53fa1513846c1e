// Package client is the Go library for quantprep's gRPC service: it uploads a
// model file and the external-data files it references, and writes the output
// model and its external data beside the output path. It depends only on the
// API packages, not on the pipeline.
package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	quantprepv1 "github.com/quantprep/quantprep/api/quantprep/v1"
)

// ChunkSize is the size of the upload's chunks.
const ChunkSize = 1 << 20

// maxRecv bounds one response message; servers send chunks of 1 MiB by default.
const maxRecv = 256 << 20

// PreprocessFile runs the service on the model at inPath and writes the result
// to outPath, with its external-data files (if any) beside it. The options'
// model_name and output_name default to the base names of the two paths.
// onProgress, if not nil, sees each progress event. Output files are written
// under temporary names and renamed into place only once the summary has
// arrived, so an error leaves nothing half-written.
func PreprocessFile(ctx context.Context, conn grpc.ClientConnInterface, inPath, outPath string, opts *quantprepv1.Options, onProgress func(*quantprepv1.Progress)) (*quantprepv1.Summary, error) {
	// The model is read twice, for its external data locations and then to
	// upload it, rather than held in memory: it may be gigabytes of inline
	// weights.
	modelFile, locations, opts, err := prepare(inPath, outPath, opts)
	if err != nil {
		return nil, err
	}
	defer modelFile.Close()
	if _, err := modelFile.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("read model: %w", err)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := quantprepv1.NewPreprocessServiceClient(conn).Preprocess(ctx, grpc.MaxCallRecvMsgSize(maxRecv))
	if err != nil {
		return nil, err
	}
	// Upload in a goroutine of its own so that an early error from the server
	// is read at once instead of after the whole upload.
	upErr := make(chan error, 1)
	go func() {
		err := upload(stream, opts, modelFile, filepath.Dir(inPath), locations)
		if err != nil && !isStreamErr(err) {
			cancel() // the server waits for more: end the stream
		}
		upErr <- err
	}()

	out := newOutput(outPath, opts.GetFsync())
	defer out.discard()
	var sum *quantprepv1.Summary
	for sum == nil {
		resp, err := recv(stream)
		if err != nil {
			cancel()
			if uerr := <-upErr; uerr != nil && !isStreamErr(uerr) {
				return nil, uerr
			}
			return nil, err
		}
		switch p := resp.GetPayload().(type) {
		case *quantprepv1.PreprocessResponse_Progress:
			if onProgress != nil {
				onProgress(p.Progress)
			}
		case *quantprepv1.PreprocessResponse_ModelChunk:
			err = out.write("", p.ModelChunk.GetData())
		case *quantprepv1.PreprocessResponse_ExternalDataChunk:
			err = out.write(p.ExternalDataChunk.GetLocation(), p.ExternalDataChunk.GetData())
		case *quantprepv1.PreprocessResponse_Summary:
			sum = p.Summary
		}
		if err != nil {
			cancel()
			<-upErr
			return nil, err
		}
	}
	if uerr := <-upErr; uerr != nil {
		return nil, uerr
	}
	if err := out.commit(); err != nil {
		return nil, err
	}
	return sum, nil
}

// prepare opens the model at inPath and reads the external data locations it
// names, and completes a copy of opts with the file names: model_name and
// output_name default to the base names of the two paths.
func prepare(inPath, outPath string, opts *quantprepv1.Options) (*os.File, []string, *quantprepv1.Options, error) {
	modelFile, err := os.Open(inPath)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("read model: %w", err)
	}
	locations, err := ExternalLocationsFrom(modelFile)
	if err != nil {
		modelFile.Close()
		return nil, nil, nil, fmt.Errorf("%s: %w", filepath.Base(inPath), err)
	}
	if opts == nil {
		opts = &quantprepv1.Options{}
	}
	opts = proto.Clone(opts).(*quantprepv1.Options)
	if opts.GetModelName() == "" {
		opts.ModelName = filepath.Base(inPath)
	}
	if opts.GetOutputName() == "" {
		opts.OutputName = filepath.Base(outPath)
	}
	// The options' values are not checked here: the server checks them, with
	// the pipeline's one rule set, before it reads the model, and refuses
	// them with INVALID_ARGUMENT naming the option. Only the message's own
	// fields are (the file names, as the server's validator does).
	if err := (&quantprepv1.PreprocessRequest{Payload: &quantprepv1.PreprocessRequest_Options{Options: opts}}).Validate(); err != nil {
		modelFile.Close()
		return nil, nil, nil, err
	}
	return modelFile, locations, opts, nil
}

// recv reads the next answer; a stream that ends before the summary is an
// error.
func recv(stream quantprepv1.PreprocessService_PreprocessClient) (*quantprepv1.PreprocessResponse, error) {
	resp, err := stream.Recv()
	if errors.Is(err, io.EOF) {
		err = errors.New("the server closed the stream without a summary")
	}
	return resp, err
}

// streamErr marks an upload that stopped because the stream broke; the
// server's status, read by Recv, then says why.
type streamErr struct{ err error }

func (e *streamErr) Error() string { return e.err.Error() }
func (e *streamErr) Unwrap() error { return e.err }

func isStreamErr(err error) bool {
	var se *streamErr
	return errors.As(err, &se)
}

// upload sends the options, the model and each external file, then closes
// the sending side.
func upload(stream quantprepv1.PreprocessService_PreprocessClient, opts *quantprepv1.Options, model io.Reader, dir string, locations []string) error {
	send := func(r *quantprepv1.PreprocessRequest) error {
		if err := stream.Send(r); err != nil {
			return &streamErr{err}
		}
		return nil
	}
	if err := send(&quantprepv1.PreprocessRequest{Payload: &quantprepv1.PreprocessRequest_Options{Options: opts}}); err != nil {
		return err
	}
	if err := awaitAccept(stream, acceptWait); err != nil {
		return &streamErr{err}
	}
	buf := make([]byte, ChunkSize)
	for {
		n, err := io.ReadFull(model, buf)
		if n > 0 {
			if serr := send(&quantprepv1.PreprocessRequest{Payload: &quantprepv1.PreprocessRequest_ModelChunk{
				ModelChunk: &quantprepv1.Chunk{Data: buf[:n]}}}); serr != nil {
				return serr
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read model: %w", err)
		}
	}
	for _, loc := range locations {
		if err := sendExternal(send, dir, loc, buf); err != nil {
			return err
		}
	}
	if err := stream.CloseSend(); err != nil {
		return &streamErr{err}
	}
	return nil
}

// acceptWait bounds the wait for a server's headers: one that sends none
// before its first response (an older server) gets the model after it.
const acceptWait = 10 * time.Second

// awaitAccept waits until the server accepts the stream: it sends its headers
// then, before reading the model. Until headers arrive the stream is not
// committed, so gRPC's retry policy (ServiceConfig) may replay it: only the
// options have been sent. An error means the stream failed; Recv reads why.
func awaitAccept(stream grpc.ClientStream, wait time.Duration) error {
	done := make(chan error, 1)
	go func() {
		_, err := stream.Header()
		done <- err
	}()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return nil
	}
}

// sendExternal sends one external-data file; an empty file still gets one
// chunk, so that the server knows it exists.
func sendExternal(send func(*quantprepv1.PreprocessRequest) error, dir, loc string, buf []byte) error {
	if err := quantprepv1.CheckLocation(loc); err != nil {
		return fmt.Errorf("external data location: %w", err)
	}
	f, err := os.Open(filepath.Join(dir, filepath.FromSlash(loc)))
	if err != nil {
		return fmt.Errorf("external data: %w", err)
	}
	defer f.Close()
	for first := true; ; first = false {
		n, err := io.ReadFull(f, buf)
		if n > 0 || first {
			if serr := send(&quantprepv1.PreprocessRequest{Payload: &quantprepv1.PreprocessRequest_ExternalDataChunk{
				ExternalDataChunk: &quantprepv1.ExternalDataChunk{Location: loc, Data: buf[:n]}}}); serr != nil {
				return serr
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("external data %q: %w", loc, err)
		}
	}
}
