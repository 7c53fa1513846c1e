package client

import (
	"fmt"
	"os"
	"path/filepath"

	quantprepv1 "github.com/quantprep/quantprep/api/quantprep/v1"
)

// output collects the response's files under temporary names beside their
// final paths; commit renames them into place, discard removes them.
type output struct {
	modelPath string
	dir       string
	files     map[string]*os.File // by location; "" is the model
	order     []string
	current   string
}

func newOutput(modelPath string) *output {
	return &output{modelPath: modelPath, dir: filepath.Dir(modelPath), files: map[string]*os.File{}, current: "\x00"}
}

func (o *output) final(loc string) string {
	if loc == "" {
		return o.modelPath
	}
	return filepath.Join(o.dir, filepath.FromSlash(loc))
}

// write appends data to the file at loc ("" for the model).
func (o *output) write(loc string, data []byte) error {
	f, ok := o.files[loc]
	if !ok {
		if loc != "" {
			if err := quantprepv1.CheckLocation(loc); err != nil {
				return fmt.Errorf("server sent a bad external data location: %w", err)
			}
		}
		final := o.final(loc)
		if loc != "" && final == o.modelPath {
			return fmt.Errorf("server sent external data named like the model, %q", loc)
		}
		if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
		var err error
		if f, err = os.CreateTemp(filepath.Dir(final), "."+filepath.Base(final)+".tmp*"); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
		// CreateTemp makes the file private; outputs get the usual mode, as the
		// pipeline gives its own.
		if err := f.Chmod(0o644); err != nil {
			f.Close()
			os.Remove(f.Name())
			return fmt.Errorf("write output: %w", err)
		}
		o.files[loc] = f
		o.order = append(o.order, loc)
	} else if loc != o.current {
		return fmt.Errorf("server sent file %q again after another one", loc)
	}
	o.current = loc
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", o.final(loc), err)
	}
	return nil
}

// commit closes the files and renames them into place, the model last so that
// it never points to external data that is not there yet.
func (o *output) commit() error {
	if _, ok := o.files[""]; !ok {
		return fmt.Errorf("the server sent no output model")
	}
	for _, loc := range o.order {
		if err := o.files[loc].Close(); err != nil {
			return fmt.Errorf("write %s: %w", o.final(loc), err)
		}
	}
	order := append([]string(nil), o.order...)
	for i, loc := range order { // the model goes last
		if loc == "" {
			order = append(append(order[:i:i], order[i+1:]...), "")
			break
		}
	}
	for _, loc := range order {
		f := o.files[loc]
		if err := os.Rename(f.Name(), o.final(loc)); err != nil {
			return fmt.Errorf("write %s: %w", o.final(loc), err)
		}
		delete(o.files, loc)
	}
	return nil
}

// discard removes the temporary files not renamed yet.
func (o *output) discard() {
	for _, f := range o.files {
		f.Close()
		os.Remove(f.Name())
	}
	o.files = nil
}
