package model

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// spillMark starts the external data location of a spilled tensor. No
// location read from a model can start with it (ResolveLocation rejects a NUL
// byte), so a spilled tensor can never be mistaken for a user's file, nor a
// user's location for a spill file.
const spillMark = "\x00spill/"

// spillState is where a model keeps the tensors that steps moved out of memory.
type spillState struct {
	// prefix starts this model's spilled locations: the mark and a random
	// token, so that even a location crafted to look spilled names nothing.
	prefix string
	root   string            // parent of dir, "" for the system's temp dir
	dir    string            // created on first use
	files  map[string]string // location -> path
}

// EnableSpill lets steps move large tensors they compute (Spill) into
// temporary files under a new directory in root ("" is the system's temp
// dir), so that a model's new weights need not stay in memory. The caller must
// Close the model to remove those files.
func (m *Model) EnableSpill(root string) {
	if m.spill == nil {
		token := make([]byte, 8)
		rand.Read(token)
		m.spill = &spillState{prefix: spillMark + hex.EncodeToString(token) + "/", root: root, files: map[string]string{}}
	}
}

// Spill moves the inline raw data of tp, a tensor that a step just made, into
// a temporary file, and points tp at it as external data: reading it
// (Tensor, ExternalBytes) and saving it (streamed like any external data) work
// as before. It reports false, and changes nothing, when spilling is not
// enabled or tp has no raw data to move.
func (m *Model) Spill(tp *onnxpb.TensorProto) (bool, error) {
	if m.spill == nil || tp.RawData == nil || IsExternal(tp) || tp.GetDataType() == int32(tensor.String) {
		return false, nil
	}
	raw := tp.RawData
	if err := m.spillData(tp, int64(len(raw)), func(w io.Writer) error {
		_, err := w.Write(raw)
		return err
	}); err != nil {
		return false, err
	}
	tp.RawData = nil
	return true, nil
}

// WriteData gives tp, a tensor a step is making, the n bytes of raw data
// that write produces. With spilling enabled they go straight into a spill
// file (tp then points at it as external data), so a computed weight never
// exists whole in memory; otherwise they become tp's RawData.
func (m *Model) WriteData(tp *onnxpb.TensorProto, n int64, write func(io.Writer) error) error {
	if m.spill != nil {
		return m.spillData(tp, n, write)
	}
	var b bytes.Buffer
	b.Grow(int(n))
	if err := write(&b); err != nil {
		return fmt.Errorf("tensor %q: %w", tp.GetName(), err)
	}
	if int64(b.Len()) != n {
		return fmt.Errorf("tensor %q: %d bytes of data written, %d expected", tp.GetName(), b.Len(), n)
	}
	tp.RawData, tp.ExternalData, tp.DataLocation = b.Bytes(), nil, nil
	return nil
}

// spillData writes n bytes from write into a new spill file and points tp
// at it.
func (m *Model) spillData(tp *onnxpb.TensorProto, n int64, write func(io.Writer) error) error {
	if err := m.reserve(n); err != nil {
		return fmt.Errorf("tensor %q: spill: %w", tp.GetName(), err)
	}
	s := m.spill
	if s.dir == "" {
		d, err := os.MkdirTemp(s.root, ".quantprep-spill-")
		if err != nil {
			return fmt.Errorf("tensor %q: spill: %w", tp.GetName(), err)
		}
		s.dir = d
	}
	f, err := os.CreateTemp(s.dir, "t*")
	if err != nil {
		return fmt.Errorf("tensor %q: spill: %w", tp.GetName(), err)
	}
	cw := &countingWriter{w: f}
	err = write(cw)
	if err == nil && cw.n != n {
		err = fmt.Errorf("%d bytes of data written, %d expected", cw.n, n)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("tensor %q: spill: %w", tp.GetName(), err)
	}
	loc := s.prefix + strconv.Itoa(len(s.files))
	s.files[loc] = f.Name()
	tp.ExternalData = externalEntries(loc, 0, n)
	tp.DataLocation = onnxpb.TensorProto_EXTERNAL.Enum()
	tp.RawData = nil
	return nil
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// spillPath returns the file of a spilled location.
func (m *Model) spillPath(location, tensorName string) (string, error) {
	if m.spill != nil {
		if p, ok := m.spill.files[location]; ok {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: tensor %q: external data location %q is not a file quantprep wrote (was the model closed?)",
		ErrInvalid, tensorName, strings.TrimPrefix(location, "\x00"))
}

// Close removes the temporary files of spilled tensors and releases the
// mapping of the model file (Load). Tensors that still point at either can no
// longer be read: after Close, only the model's structure may be used.
// Close is idempotent.
func (m *Model) Close() error {
	err := m.unmapAll()
	if m.spill == nil || m.spill.dir == "" {
		return err
	}
	if rerr := os.RemoveAll(m.spill.dir); rerr != nil {
		err = errors.Join(err, errors.New("remove spilled tensors"), rerr)
	}
	m.spill.dir, m.spill.files = "", map[string]string{}
	return err
}
