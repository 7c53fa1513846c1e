package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"sync"

	"go.uber.org/zap"

	quantprepv1 "github.com/quantprep/quantprep/api/quantprep/v1"
	"github.com/quantprep/quantprep/client"
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
	disk   *diskBudget
	mem    *memBudget
	active sync.Map // spool directories of the requests in progress
}

// Preprocess spools the upload into a directory of its own, runs the pipeline
// in the worker pool while streaming its progress, then streams the output
// files and the summary. It is the RPC's boundary: the one place where an
// error becomes a status (toStatus), with the spool's paths scrubbed from it.
func (s *preprocessService) Preprocess(stream quantprepv1.PreprocessService_PreprocessServer) error {
	dir, err := s.preprocess(stream)
	return scrubPaths(toStatus(err), dir, s.cfg.TempDir, s.cfg.SharedDir)
}

// preprocess does Preprocess's work and returns its spool directory with the
// error. The directory is removed on every way out, and its bytes are given
// back to the server's disk budget.
func (s *preprocessService) preprocess(stream quantprepv1.PreprocessService_PreprocessServer) (dir string, err error) {
	ctx := stream.Context()
	dir, err = os.MkdirTemp(s.cfg.TempDir, "req-*")
	if err != nil {
		return "", fmt.Errorf("spool directory: %w", err)
	}
	s.active.Store(dir, true)
	defer s.active.Delete(dir)
	jobCtx, cancel := context.WithCancelCause(ctx)
	disk := newRequestDisk(s.cfg.RequestDiskQuota, s.disk, cancel)
	st := newGuardedStream(stream, s.cfg.IdleTimeout, s.cfg.SendTimeout)
	var j *job
	var up *upload
	defer func() {
		cancel(nil)
		// A worker may be writing into dir: wait for it unless the job never started.
		if j != nil && !j.abandon() {
			<-j.done
		}
		up.close() // after the worker, which may still read the shared directory
		if rerr := os.RemoveAll(dir); rerr != nil {
			requestLogger(ctx, s.log).Error("removing spool directory", zap.String("dir", dir), zap.Error(rerr))
		}
		disk.release()
		st.close()
		// A quota or budget that stopped the run says why, whatever the run
		// returned on its way out (its context's plain Canceled).
		if cause := context.Cause(jobCtx); err != nil && errors.Is(cause, errQuota) {
			err = cause
		}
	}()

	up, err = receive(st, filepath.Join(dir, "in"), s.cfg.SharedDir, s.cfg.MaxUploadBytes, disk)
	if err != nil {
		return dir, err
	}
	opts, err := RequestOptions(up.opts, s.cfg.Budgets)
	if err != nil {
		return dir, err
	}
	outName := up.opts.GetOutputName()
	if outName == "" {
		outName = filepath.Base(up.modelPath)
	}
	if err := checkOutputNames(outName, opts); err != nil {
		return dir, err
	}
	outDir := filepath.Join(dir, "out")
	if err := os.Mkdir(outDir, 0o700); err != nil {
		return dir, fmt.Errorf("spool directory: %w", err)
	}
	outPath := filepath.Join(outDir, outName)

	events := make(chan pipeline.Event, 64)
	var rep *pipeline.Report
	j, err = s.pool.submit(jobCtx, func(ctx context.Context) error {
		// Everything that reads the model runs here, on a worker, never on
		// the request's goroutine: a model crafted to be costly to parse
		// costs a worker, not the server.
		// A shared request takes exactly the files its model names; an
		// upload's files are checked against them.
		if up.shared != nil {
			if err := up.takeExternal(); err != nil {
				return err
			}
		} else if err := up.checkReferences(); err != nil {
			return err
		}
		values, _ := countValues(up.modelPath) // unreadable: the loader says why
		release, err := s.mem.acquire(ctx, estimateMemory(up.modelBytes, values, up.externalBytes, opts))
		if err != nil {
			return err
		}
		defer release()
		// An uploaded request's output is a spool file, read back once and
		// removed: syncing it would buy nothing. The client syncs its own copy
		// when asked (fsync). A shared request's output is the spool file
		// itself, linked into the shared volume: it is synced when asked.
		if up.shared == nil {
			opts.Fsync = false
		}
		runCtx := model.WithDiskBudget(ctx, disk)
		r, err := s.runner.Run(runCtx, up.modelPath, outPath, opts, func(e pipeline.Event) {
			select {
			case events <- e:
			case <-ctx.Done():
			}
		})
		rep = r
		return err
	})
	if err != nil {
		return dir, err
	}
	sendProgress := func(e pipeline.Event) error {
		return st.Send(&quantprepv1.PreprocessResponse{Payload: &quantprepv1.PreprocessResponse_Progress{Progress: ProgressFromEvent(e)}})
	}
wait:
	for {
		select {
		case e := <-events:
			if err := sendProgress(e); err != nil {
				return dir, err
			}
		case <-j.done:
			break wait
		case <-ctx.Done():
			return dir, ctx.Err()
		}
	}
	for len(events) > 0 {
		if err := sendProgress(<-events); err != nil {
			return dir, err
		}
	}
	if j.err != nil {
		return dir, j.err
	}
	if rep == nil || len(rep.Files) == 0 {
		return dir, errors.New("the pipeline reported no output file")
	}
	rels := make([]string, len(rep.Files))
	for i, f := range rep.Files {
		rel, err := filepath.Rel(outDir, f)
		if err != nil || !filepath.IsLocal(rel) {
			return dir, fmt.Errorf("output file %q is outside the output directory", f)
		}
		rels[i] = rel
	}
	// The output goes into the shared directory, or back over the stream.
	if up.shared != nil {
		err = sendShared(up.root, up.shared, outDir, rels, opts.Fsync)
	} else {
		for i, rel := range rels {
			if err = sendFile(st, filepath.Join(outDir, rel), filepath.ToSlash(rel), i == 0, s.cfg.ChunkSize); err != nil {
				break
			}
		}
	}
	if err != nil {
		return dir, err
	}
	return dir, st.Send(&quantprepv1.PreprocessResponse{Payload: &quantprepv1.PreprocessResponse_Summary{Summary: SummaryFromReport(rep, outDir)}})
}

// checkOutputNames refuses output names that the file system or the save
// would: too long or too deep, or an external data file that is the output
// model or lies under its name.
func checkOutputNames(outName string, o pipeline.Options) error {
	if err := checkName("output_name", outName); err != nil {
		return err
	}
	loc := o.ExternalDataLocation
	if loc == "" || !o.SaveAsExternalData {
		return nil
	}
	if err := checkName("external_data_location", loc); err != nil {
		return err
	}
	if underFile(loc, outName) {
		return fmt.Errorf("%w: external_data_location %q is the output model %q or lies under its name", errProtocol, loc, outName)
	}
	return nil
}

// upload is a spooled request.
type upload struct {
	opts          *quantprepv1.Options
	modelPath     string
	modelBytes    int64
	externalBytes int64
	received      map[string]bool // external data files, cleaned slash paths
	// For a shared_model request: what it names, the shared directory, and
	// the spool that counts what is copied from there (shared.go).
	shared *quantprepv1.SharedModel
	root   *os.Root
	sp     *spool
}

// close releases what the upload holds open.
func (up *upload) close() {
	if up != nil && up.root != nil {
		up.root.Close()
	}
}

// checkReferences compares the external data files that the model names
// with those uploaded. It reads the model's wire format along the paths to
// tensors, skipping weights, so it costs a buffer, not the model's size.
func (up *upload) checkReferences() error {
	f, err := os.Open(up.modelPath)
	if err != nil {
		return fmt.Errorf("read model: %w", err)
	}
	defer f.Close()
	locs, err := client.ExternalLocationsFrom(f)
	if err != nil {
		// Not a model the scan can read; the pipeline's loader says why.
		if len(up.received) > 0 {
			return fmt.Errorf("%w: %s: not an ONNX model: %v", model.ErrInvalid, filepath.Base(up.modelPath), err)
		}
		return nil
	}
	refs := map[string]bool{}
	for _, l := range locs {
		refs[l] = true
	}
	var extra []string
	for l := range up.received {
		if !refs[l] {
			extra = append(extra, l)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return fmt.Errorf("%w: external data file %q is not referenced by the model", errProtocol, extra[0])
	}
	for _, l := range locs {
		if !up.received[l] {
			return fmt.Errorf("%w: the model references external data file %q, which was not uploaded", errProtocol, l)
		}
	}
	return nil
}

// recvStream is where receive reads the request from.
type recvStream interface {
	Recv() (*quantprepv1.PreprocessRequest, error)
}

// receive reads the request stream into inDir: the options, the model file,
// then each external-data file, checking order, names and the size limit; or
// the options and a shared_model, whose file it takes from sharedDir (the
// server's Config.SharedDir; "" refuses them).
// It does not read what it spools: the model is parsed on a worker.
func receive(stream recvStream, inDir, sharedDir string, limit int64, disk *requestDisk) (_ *upload, err error) {
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
	// The options' values, before any byte of the model is read (their
	// budgets meet the server's ceilings in RequestOptions).
	if err := PipelineOptions(opts).Validate(); err != nil {
		return nil, err
	}
	name := opts.GetModelName()
	if name == "" {
		name = DefaultModelName
	}
	if err := checkName("model_name", name); err != nil {
		return nil, err
	}
	if err := os.Mkdir(inDir, 0o700); err != nil {
		return nil, fmt.Errorf("spool directory: %w", err)
	}
	up := &upload{opts: opts, modelPath: filepath.Join(inDir, name), received: map[string]bool{}}
	defer func() {
		if err != nil {
			up.close()
		}
	}()
	sp := &spool{limit: limit, disk: disk}
	defer sp.closeFile()
	// The model's spool file is created by its first chunk: a shared request
	// has none (its model is the shared file's link, under its name).
	modelOpen := false
	current := "" // the external file being received
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
		case *quantprepv1.PreprocessRequest_SharedModel:
			if modelOpen || current != "" || up.shared != nil {
				return nil, fmt.Errorf("%w: shared_model must come right after the options, instead of chunks", errProtocol)
			}
			if up.root, err = openShared(sharedDir); err != nil {
				return nil, err
			}
			if err := up.receiveShared(p.SharedModel, inDir, sp); err != nil {
				return nil, err
			}
		case *quantprepv1.PreprocessRequest_ModelChunk:
			if up.shared != nil {
				return nil, fmt.Errorf("%w: model chunk after shared_model", errProtocol)
			}
			if current != "" {
				return nil, fmt.Errorf("%w: model chunk after external data: the model must come first", errProtocol)
			}
			if !modelOpen {
				if err := sp.open(up.modelPath); err != nil {
					return nil, fmt.Errorf("%w: cannot store the model as %q: %s", errProtocol, name, reason(err))
				}
				modelOpen = true
			}
			up.modelBytes += int64(len(p.ModelChunk.GetData()))
			if err := sp.write(p.ModelChunk.GetData()); err != nil {
				return nil, err
			}
		case *quantprepv1.PreprocessRequest_ExternalDataChunk:
			c := p.ExternalDataChunk
			if up.shared != nil {
				return nil, fmt.Errorf("%w: external data chunk after shared_model: the server reads external data beside the shared model", errProtocol)
			}
			if err := quantprepv1.CheckLocation(c.GetLocation()); err != nil {
				return nil, fmt.Errorf("%w: external_data_chunk.location: %v", errProtocol, err)
			}
			loc := path.Clean(c.GetLocation())
			if current == "" && up.modelBytes == 0 {
				return nil, fmt.Errorf("%w: external data before the model", errProtocol)
			}
			if loc != current {
				switch {
				case up.received[loc]:
					return nil, fmt.Errorf("%w: external data file %q sent again after another file started", errProtocol, loc)
				case len(up.received) >= maxLocationsN:
					return nil, fmt.Errorf("%w: more than %d external data files", errProtocol, maxLocationsN)
				}
				if err := checkName("external_data_chunk.location", loc); err != nil {
					return nil, err
				}
				if underFile(loc, name) {
					return nil, fmt.Errorf("%w: external data file %q is the model %q or lies under its name", errProtocol, loc, name)
				}
				if err := sp.closeFile(); err != nil {
					return nil, err
				}
				p := filepath.Join(inDir, filepath.FromSlash(loc))
				if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
					return nil, fmt.Errorf("%w: cannot store external data file %q: %s", errProtocol, loc, reason(err))
				}
				if err := sp.open(p); err != nil {
					return nil, fmt.Errorf("%w: cannot store external data file %q: %s", errProtocol, loc, reason(err))
				}
				up.received[loc], current = true, loc
			}
			up.externalBytes += int64(len(c.GetData()))
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
	if up.modelBytes == 0 && up.shared == nil {
		return nil, fmt.Errorf("%w: no model uploaded", errProtocol)
	}
	return up, nil
}

// spool writes the upload's files one after another and counts their bytes
// against the limit.
type spool struct {
	f     *os.File
	total int64
	limit int64
	disk  *requestDisk
}

func (s *spool) open(p string) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	s.f = f
	return nil
}

// count adds n bytes to the upload, which must stay within the limit.
func (s *spool) count(n int64) error {
	s.total += n
	if s.total > s.limit {
		return fmt.Errorf("%w: the upload exceeds the server's limit of %d bytes", errTooBig, s.limit)
	}
	return nil
}

func (s *spool) write(b []byte) error {
	if err := s.count(int64(len(b))); err != nil {
		return err
	}
	if err := s.disk.Reserve(int64(len(b))); err != nil {
		return err
	}
	if _, err := s.f.Write(b); err != nil {
		return fmt.Errorf("spool upload: %s", reason(err))
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
func sendFile(stream interface {
	Send(*quantprepv1.PreprocessResponse) error
}, p, location string, isModel bool, size int) error {
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
