package model

import (
	"fmt"
	"os"
	"path/filepath"

	"google.golang.org/protobuf/proto"
)

// SaveOptions says how Save lays the model out on disk; the fields are the
// reference tool's save flags.
type SaveOptions struct {
	ExternalData        bool
	AllTensorsToOneFile bool
	// Location is the external data file name, relative to the output model.
	Location string
	// SizeThreshold: tensors of at least this many bytes go to external data.
	SizeThreshold int64
}

// MaxInlineSize is protobuf's limit on one serialized message: 2 GiB - 1.
const MaxInlineSize = 1<<31 - 1

// Save writes the model to path and returns the files written (path first).
// Every file is written to a temporary name and renamed into place, so a
// failure leaves no half-written output.
func (m *Model) Save(path string, opt SaveOptions) ([]string, error) {
	if opt.ExternalData {
		return nil, fmt.Errorf("%w: saving with external data is not built yet", ErrUnsupported)
	}
	for _, tp := range m.Graph().GetInitializer() {
		if IsExternal(tp) {
			return nil, fmt.Errorf("%w: inlining external data (tensor %q) is not built yet", ErrUnsupported, tp.GetName())
		}
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m.Proto)
	if err != nil {
		return nil, fmt.Errorf("serialize model: %w", err)
	}
	if len(b) > MaxInlineSize {
		return nil, fmt.Errorf("%w: the model is %d bytes, over protobuf's 2 GB limit: use save_as_external_data", ErrTooLarge, len(b))
	}
	if err := writeAtomic(path, b); err != nil {
		return nil, err
	}
	return []string{path}, nil
}

// writeAtomic writes b to a temporary file beside path and renames it into place.
func writeAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return nil
}
