package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"

	"go.uber.org/zap"

	quantprepv1 "github.com/quantprep/quantprep/api/quantprep/v1"
	"github.com/quantprep/quantprep/pipeline"
	"github.com/quantprep/quantprep/pipeline/model"
)

// preprocessService implements PreprocessService on top of a Runner.
type preprocessService struct {
	quantprepv1.UnimplementedPreprocessServiceServer
	cfg    Config
	log    *zap.Logger
	runner Runner
	pool   *pool
}

// Preprocess spools the upload into a directory of its own, runs the pipeline
// in the worker pool while streaming its progress, then streams the output
// files and the summary. The directory is removed on every way out.
func (s *preprocessService) Preprocess(stream quantprepv1.PreprocessService_PreprocessServer) (err error) {
	ctx := stream.Context()
	dir, err := os.MkdirTemp(s.cfg.TempDir, "req-*")
	if err != nil {
		return toStatus(fmt.Errorf("spool directory: %w", err))
	}
	jobCtx, cancel := context.WithCancel(ctx)
	var j *job
	defer func() {
		cancel()
		// A worker may be writing into dir: wait for it unless the job never started.
		if j != nil && !j.abandon() {
			<-j.done
		}
		if rerr := os.RemoveAll(dir); rerr != nil {
			s.log.Error("removing spool directory", zap.String("dir", dir), zap.Error(rerr))
		}
	}()

	up, err := receive(stream, filepath.Join(dir, "in"), s.cfg.MaxUploadBytes)
	if err != nil {
		return toStatus(err)
	}
	opts := PipelineOptions(up.opts)
	if err := opts.Validate(); err != nil {
		return toStatus(err)
	}
	outDir := filepath.Join(dir, "out")
	if err := os.Mkdir(outDir, 0o700); err != nil {
		return toStatus(fmt.Errorf("spool directory: %w", err))
	}
	outName := up.opts.GetOutputName()
	if outName == "" {
		outName = filepath.Base(up.modelPath)
	}
	outPath := filepath.Join(outDir, outName)

	events := make(chan pipeline.Event, 64)
	var rep *pipeline.Report
	j, err = s.pool.submit(jobCtx, func(ctx context.Context) error {
		r, err := s.runner.Run(ctx, up.modelPath, outPath, opts, func(e pipeline.Event) {
			select {
			case events <- e:
			case <-ctx.Done():
			}
		})
		rep = r
		return err
	})
	if err != nil {
		return toStatus(err)
	}
	sendProgress := func(e pipeline.Event) error {
		return stream.Send(&quantprepv1.PreprocessResponse{Payload: &quantprepv1.PreprocessResponse_Progress{Progress: ProgressFromEvent(e)}})
	}
wait:
	for {
		select {
		case e := <-events:
			if err := sendProgress(e); err != nil {
				return err
			}
		case <-j.done:
			break wait
		case <-ctx.Done():
			return toStatus(ctx.Err())
		}
	}
	for len(events) > 0 {
		if err := sendProgress(<-events); err != nil {
			return err
		}
	}
	if j.err != nil {
		return toStatus(j.err)
	}
	if rep == nil || len(rep.Files) == 0 {
		return toStatus(errors.New("the pipeline reported no output file"))
	}
	for i, f := range rep.Files {
		rel, err := filepath.Rel(outDir, f)
		if err != nil || !filepath.IsLocal(rel) {
			return toStatus(fmt.Errorf("output file %q is outside the output directory", f))
		}
		if err := sendFile(stream, f, filepath.ToSlash(rel), i == 0, s.cfg.ChunkSize); err != nil {
			return toStatus(err)
		}
	}
	return stream.Send(&quantprepv1.PreprocessResponse{Payload: &quantprepv1.PreprocessResponse_Summary{Summary: SummaryFromReport(rep, outDir)}})
}

// upload is a spooled request.
type upload struct {
	opts      *quantprepv1.Options
	modelPath string
}

// receive reads the request stream into inDir: the options, the model file,
// then each external-data file, checking order, names and the size limit.
func receive(stream quantprepv1.PreprocessService_PreprocessServer, inDir string, limit int64) (*upload, error) {
	first, err := stream.Recv()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: empty request stream: the first message must be options", errProtocol)
	}
	if err != nil {
		return nil, err
	}
	opts := first.GetOptions()
	if opts == nil {
		return nil, fmt.Errorf("%w: first message must be options", errProtocol)
	}
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", errProtocol, err)
	}
	name := opts.GetModelName()
	if name == "" {
		name = DefaultModelName
	}
	if err := os.Mkdir(inDir, 0o700); err != nil {
		return nil, fmt.Errorf("spool directory: %w", err)
	}
	up := &upload{opts: opts, modelPath: filepath.Join(inDir, name)}
	sp := &spool{limit: limit}
	defer sp.closeFile()
	if err := sp.open(up.modelPath); err != nil {
		return nil, err
	}
	var (
		modelBytes int64
		refs       map[string]bool // the model's external locations, once parsed
		current    string          // the external file being received
		received   = map[string]bool{}
	)
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		switch p := req.GetPayload().(type) {
		case *quantprepv1.PreprocessRequest_Options:
			return nil, fmt.Errorf("%w: options may only be the first message", errProtocol)
		case *quantprepv1.PreprocessRequest_ModelChunk:
			if refs != nil {
				return nil, fmt.Errorf("%w: model chunk after external data: the model must come first", errProtocol)
			}
			modelBytes += int64(len(p.ModelChunk.GetData()))
			if err := sp.write(p.ModelChunk.GetData()); err != nil {
				return nil, err
			}
		case *quantprepv1.PreprocessRequest_ExternalDataChunk:
			c := p.ExternalDataChunk
			if err := quantprepv1.CheckLocation(c.GetLocation()); err != nil {
				return nil, fmt.Errorf("%w: external_data_chunk.location: %v", errProtocol, err)
			}
			loc := path.Clean(c.GetLocation())
			if refs == nil {
				if modelBytes == 0 {
					return nil, fmt.Errorf("%w: external data before the model", errProtocol)
				}
				if err := sp.closeFile(); err != nil {
					return nil, err
				}
				m, err := model.Load(up.modelPath)
				if err != nil {
					return nil, err
				}
				refs = map[string]bool{}
				for _, l := range model.ExternalLocations(m.Proto) {
					refs[l] = true
				}
			}
			if loc != current {
				switch {
				case received[loc]:
					return nil, fmt.Errorf("%w: external data file %q sent again after another file started", errProtocol, loc)
				case !refs[loc]:
					return nil, fmt.Errorf("%w: external data file %q is not referenced by the model", errProtocol, loc)
				}
				if err := sp.closeFile(); err != nil {
					return nil, err
				}
				p := filepath.Join(inDir, filepath.FromSlash(loc))
				if p == up.modelPath {
					return nil, fmt.Errorf("%w: external data file %q has the model's own name", errProtocol, loc)
				}
				if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
					return nil, fmt.Errorf("%w: cannot store external data file %q: %v", errProtocol, loc, err)
				}
				if err := sp.open(p); err != nil {
					return nil, fmt.Errorf("%w: cannot store external data file %q: %v", errProtocol, loc, err)
				}
				received[loc], current = true, loc
			}
			if err := sp.write(c.GetData()); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("%w: empty request message", errProtocol)
		}
	}
	if err := sp.closeFile(); err != nil {
		return nil, err
	}
	if modelBytes == 0 {
		return nil, fmt.Errorf("%w: no model uploaded", errProtocol)
	}
	for l := range refs {
		if !received[l] {
			return nil, fmt.Errorf("%w: the model references external data file %q, which was not uploaded", errProtocol, l)
		}
	}
	return up, nil
}

// spool writes the upload's files one after another and counts their bytes
// against the limit.
type spool struct {
	f     *os.File
	total int64
	limit int64
}

func (s *spool) open(p string) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	s.f = f
	return nil
}

func (s *spool) write(b []byte) error {
	s.total += int64(len(b))
	if s.total > s.limit {
		return fmt.Errorf("%w: the upload exceeds the server's limit of %d bytes", errTooBig, s.limit)
	}
	if _, err := s.f.Write(b); err != nil {
		return fmt.Errorf("spool upload: %w", err)
	}
	return nil
}

func (s *spool) closeFile() error {
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	if err != nil {
		return fmt.Errorf("spool upload: %w", err)
	}
	return nil
}

// sendFile streams the file at p in chunks of at most size bytes, as the model
// or as the external-data file at location.
func sendFile(stream quantprepv1.PreprocessService_PreprocessServer, p, location string, isModel bool, size int) error {
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("read output: %w", err)
	}
	defer f.Close()
	buf := make([]byte, size)
	for {
		n, err := io.ReadFull(f, buf)
		if n > 0 {
			data := buf[:n]
			var resp quantprepv1.PreprocessResponse
			if isModel {
				resp.Payload = &quantprepv1.PreprocessResponse_ModelChunk{ModelChunk: &quantprepv1.Chunk{Data: data}}
			} else {
				resp.Payload = &quantprepv1.PreprocessResponse_ExternalDataChunk{ExternalDataChunk: &quantprepv1.ExternalDataChunk{Location: location, Data: data}}
			}
			if serr := stream.Send(&resp); serr != nil {
				return serr
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read output: %w", err)
		}
	}
}
