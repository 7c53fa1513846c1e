package server

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	quantprepv1 "github.com/quantprep/quantprep/api/quantprep/v1"
	"github.com/quantprep/quantprep/client"
	"github.com/quantprep/quantprep/pipeline/model"
)

// Requests that name their model in the volume the server shares with its
// clients (Config.SharedDir, a sidecar's shared volume) instead of uploading
// it: no byte of the model or of the output crosses the connection.
//
// The server does not trust the volume: a client that can write there can
// swap a directory for a symbolic link at any moment, or change a file while
// the run reads it. So every name in the volume is opened through an
// os.Root, which refuses paths that leave the directory by "..", by an
// absolute name or through a link, even one swapped in while it resolves.
// The model and its external data enter the request's private spool as hard
// links of the opened files (nothing copied; a copy where the spool is on
// another file system), and the pipeline runs on the spool exactly as for an
// upload. A client that changes its file during the run changes only its own
// result: the loader turns a truncated mapping into an error. The output goes
// the other way: the server creates output_dir itself (Mkdir fails on
// anything already there, a link included) and links each output file into
// that directory through a handle opened on it, so no later rename in the
// volume can redirect a write.

// errNoShared marks a shared_model request to a server without a shared
// directory.
var errNoShared = errors.New("this server has no shared directory (serve --shared_dir)")

// openShared opens the server's shared directory for one request.
func openShared(dir string) (*os.Root, error) {
	if dir == "" {
		return nil, errNoShared
	}
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("shared directory: %w", err)
	}
	return r, nil
}

// sharedOpen opens the regular file at name (a slash path) in root.
func sharedOpen(root *os.Root, field, name string) (*os.File, int64, error) {
	f, err := root.Open(filepath.FromSlash(name))
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %s %q: %s", errProtocol, field, name, sharedReason(err))
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("%s %q: %w", field, name, err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("%w: %s %q is not a regular file", errProtocol, field, name)
	}
	return f, st.Size(), nil
}

// sharedReason says why a path in the shared directory could not be used,
// without the server's own paths.
func sharedReason(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "no such file in the shared directory (is the client's --shared_dir the server's volume?)"
	case errors.Is(err, fs.ErrExist):
		return "already exists"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied (client and server must run as one user or share a group)"
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// spoolShared puts the open file f into the spool at p, counted against the
// upload limit: a hard link of it, or a copy, which the request's disk quota
// counts too.
func spoolShared(f *os.File, size int64, p string, sp *spool) error {
	if err := sp.count(size); err != nil {
		return err
	}
	if linkOpenFile(f, p) == nil {
		return nil
	}
	if err := sp.disk.Reserve(size); err != nil {
		return err
	}
	if err := sp.open(p); err != nil {
		return fmt.Errorf("spool directory: %w", err)
	}
	if _, err := io.Copy(sp.f, f); err != nil {
		return fmt.Errorf("copy from the shared directory: %s", reason(err))
	}
	return sp.closeFile()
}

// receiveShared takes the model that m names into the spool as up.modelPath.
// Its external data files follow on a worker (takeExternal), which reads the
// model's structure to find them.
func (up *upload) receiveShared(m *quantprepv1.SharedModel, inDir string, sp *spool) error {
	if err := checkName("shared_model.path", m.GetPath()); err != nil {
		return err
	}
	if err := checkName("shared_model.output_dir", m.GetOutputDir()); err != nil {
		return err
	}
	f, size, err := sharedOpen(up.root, "shared_model.path", m.GetPath())
	if err != nil {
		return err
	}
	defer f.Close()
	up.shared, up.sp = m, sp
	up.modelPath = filepath.Join(inDir, path.Base(path.Clean(m.GetPath())))
	up.modelBytes = size
	return spoolShared(f, size, up.modelPath, sp)
}

// takeExternal brings the external data files that the shared model names
// into the spool beside it, checking them as an upload's are checked.
func (up *upload) takeExternal() error {
	mf, err := os.Open(up.modelPath)
	if err != nil {
		return fmt.Errorf("read model: %w", err)
	}
	locs, err := client.ExternalLocationsFrom(mf)
	mf.Close()
	if err != nil {
		return nil // not a model the scan can read; the loader says why
	}
	if len(locs) > maxLocationsN {
		return fmt.Errorf("%w: more than %d external data files", errProtocol, maxLocationsN)
	}
	name := filepath.Base(up.modelPath)
	dir := path.Dir(path.Clean(up.shared.GetPath()))
	inDir := filepath.Dir(up.modelPath)
	for _, loc := range locs {
		if err := quantprepv1.CheckLocation(loc); err != nil {
			return fmt.Errorf("%w: external data location: %v", model.ErrInvalid, err)
		}
		loc = path.Clean(loc)
		if up.received[loc] {
			continue
		}
		if err := checkName("external data location", loc); err != nil {
			return err
		}
		if underFile(loc, name) {
			return fmt.Errorf("%w: external data file %q is the model %q or lies under its name", model.ErrInvalid, loc, name)
		}
		f, size, err := sharedOpen(up.root, "external data file", path.Join(dir, loc))
		if err != nil {
			return err
		}
		p := filepath.Join(inDir, filepath.FromSlash(loc))
		err = os.MkdirAll(filepath.Dir(p), 0o700)
		if err == nil {
			err = spoolShared(f, size, p, up.sp)
		}
		f.Close()
		if err != nil {
			return err
		}
		up.received[loc] = true
		up.externalBytes += size
	}
	return nil
}

// sendShared puts the run's output files (rels, relative to outDir, the model
// first) into the new directory m.OutputDir of the shared volume. On error it
// removes what it made there. With sync (the fsync option) the directories it
// made are synced too; the pipeline synced the files.
func sendShared(root *os.Root, m *quantprepv1.SharedModel, outDir string, rels []string, sync bool) (err error) {
	out := filepath.FromSlash(path.Clean(m.GetOutputDir()))
	if err := root.Mkdir(out, 0o775); err != nil {
		return fmt.Errorf("%w: shared_model.output_dir %q: %s", errProtocol, m.GetOutputDir(), sharedReason(err))
	}
	defer func() {
		if err != nil {
			root.RemoveAll(out)
		}
	}()
	// Mkdir's mode is masked by the umask: say group-writable plainly, so that
	// a client in the server's group can move the files out and remove it.
	if err := root.Chmod(out, 0o775); err != nil {
		return fmt.Errorf("shared_model.output_dir %q: %s", m.GetOutputDir(), sharedReason(err))
	}
	for _, rel := range rels {
		f := filepath.Join(outDir, rel)
		sub := filepath.Join(out, filepath.Dir(rel))
		if err := root.MkdirAll(sub, 0o775); err != nil {
			return fmt.Errorf("shared_model.output_dir %q: %s", m.GetOutputDir(), sharedReason(err))
		}
		d, err := root.Open(sub)
		if err != nil {
			return fmt.Errorf("shared_model.output_dir %q: %s", m.GetOutputDir(), sharedReason(err))
		}
		err = linkInto(f, d, filepath.Base(rel))
		if err != nil {
			err = copyInto(root, f, filepath.Join(out, rel), sync)
		}
		if err == nil && sync {
			err = d.Sync()
		}
		d.Close()
		if err != nil {
			return err
		}
	}
	if sync {
		// The new directory's own entry, in its parent.
		if d, err := root.Open(filepath.Dir(out)); err == nil {
			d.Sync()
			d.Close()
		}
	}
	return nil
}

// copyInto copies the spool file src to name in root, a new file, synced
// with sync.
func copyInto(root *os.Root, src, name string, sync bool) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("read output: %w", err)
	}
	defer in.Close()
	out, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o664)
	if err != nil {
		return fmt.Errorf("write output %q: %s", filepath.ToSlash(name), sharedReason(err))
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("write output %q: %s", filepath.ToSlash(name), reason(err))
	}
	if sync {
		if err := out.Sync(); err != nil {
			out.Close()
			return fmt.Errorf("write output %q: %s", filepath.ToSlash(name), reason(err))
		}
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("write output %q: %s", filepath.ToSlash(name), reason(err))
	}
	return nil
}
