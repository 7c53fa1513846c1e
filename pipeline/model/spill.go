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
	// deferred holds the producers of data not written yet (WriteData);
	// next numbers the locations.
	deferred map[string]*deferred
	next     int
}

// EnableSpill lets steps move large tensors they compute (Spill) into
// temporary files under a new directory in root ("" is the system's temp
// dir), so that a model's new weights need not stay in memory. The caller must
// Close the model to remove those files.
func (m *Model) EnableSpill(root string) {
	if m.spill == nil {
		token := make([]byte, 8)
		rand.Read(token)
		m.spill = &spillState{prefix: spillMark + hex.EncodeToString(token) + "/", root: root, files: map[string]string{},
			deferred: map[string]*deferred{}}
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
// that write produces, and calls release once write will not run again.
//
// With spilling enabled the data is deferred: tp points, as external data,
// at a spill location whose bytes do not exist yet. Save runs write straight
// into the output file, so a computed weight (a transposed or rescaled copy of
// a weight) is written once, never held in memory nor copied through a
// temporary file; a step that reads tp's values before (Tensor, RawBytes,
// ExternalBytes) makes write fill a spill file once, which then serves every
// read. write must therefore give the same bytes every time, from sources
// that stay valid until Close (the mapped model file, mapped external data,
// memory it holds). Without spilling, write runs at once and its bytes become
// tp's RawData.
func (m *Model) WriteData(tp *onnxpb.TensorProto, n int64, write func(io.Writer) error, release func()) error {
	if m.spill != nil {
		s := m.spill
		loc := s.prefix + "d" + strconv.Itoa(s.next)
		s.next++
		s.deferred[loc] = &deferred{n: n, write: write, release: release}
		tp.ExternalData = externalEntries(loc, 0, n)
		tp.DataLocation = onnxpb.TensorProto_EXTERNAL.Enum()
		tp.RawData = nil
		return nil
	}
	defer release()
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

// deferred is data that WriteData will produce when it is needed.
type deferred struct {
	n       int64
	write   func(io.Writer) error
	release func()
}

// deferredOf returns the producer of tp's data if tp points at deferred
// data (the whole of it, as WriteData and copies of its entries do).
func (m *Model) deferredOf(tp *onnxpb.TensorProto) (*deferred, bool) {
	if m.spill == nil || len(m.spill.deferred) == 0 || !IsExternal(tp) {
		return nil, false
	}
	ref, err := ParseExternal(tp)
	if err != nil {
		return nil, false
	}
	d := m.spill.deferred[ref.Location]
	if d == nil || ref.Offset != 0 || (ref.Length != -1 && ref.Length != d.n) {
		return nil, false
	}
	return d, true
}

// spillData writes n bytes from write into a new spill file and points tp
// at it.
func (m *Model) spillData(tp *onnxpb.TensorProto, n int64, write func(io.Writer) error) error {
	p, err := m.spillFile(n, write)
	if err != nil {
		return fmt.Errorf("tensor %q: spill: %w", tp.GetName(), err)
	}
	s := m.spill
	loc := s.prefix + strconv.Itoa(s.next)
	s.next++
	s.files[loc] = p
	tp.ExternalData = externalEntries(loc, 0, n)
	tp.DataLocation = onnxpb.TensorProto_EXTERNAL.Enum()
	tp.RawData = nil
	return nil
}

// spillFile writes the n bytes that write produces into a new file of the
// spill directory and returns its path; on failure nothing is left.
func (m *Model) spillFile(n int64, write func(io.Writer) error) (string, error) {
	if err := m.reserve(n); err != nil {
		return "", err
	}
	s := m.spill
	if s.dir == "" {
		d, err := os.MkdirTemp(s.root, ".quantprep-spill-")
		if err != nil {
			return "", err
		}
		s.dir = d
	}
	f, err := os.CreateTemp(s.dir, "t*")
	if err != nil {
		return "", err
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
		return "", err
	}
	return f.Name(), nil
}

// countingWriter counts the bytes written through it, and calls after (if
// set) with the count after each write.
type countingWriter struct {
	w     io.Writer
	n     int64
	after func(n int64)
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if c.after != nil {
		c.after(c.n)
	}
	return n, err
}

// spillPath returns the file of a spilled location; deferred data is
// written to its file first.
func (m *Model) spillPath(location, tensorName string) (string, error) {
	if m.spill != nil {
		if p, ok := m.spill.files[location]; ok {
			return p, nil
		}
		if d := m.spill.deferred[location]; d != nil {
			if err := m.materialize(location, d, tensorName); err != nil {
				return "", err
			}
			return m.spill.files[location], nil
		}
	}
	return "", fmt.Errorf("%w: tensor %q: external data location %q is not a file quantprep wrote (was the model closed?)",
		ErrInvalid, tensorName, strings.TrimPrefix(location, "\x00"))
}

// materialize writes deferred data into a spill file, which serves every
// later read of location.
func (m *Model) materialize(location string, d *deferred, tensorName string) error {
	p, err := m.spillFile(d.n, d.write)
	if err != nil {
		return fmt.Errorf("tensor %q: computing its data: %w", tensorName, err)
	}
	m.spill.files[location] = p
	delete(m.spill.deferred, location)
	d.release()
	return nil
}

// Close removes the temporary files of spilled tensors and releases the
// mapping of the model file (Load). Tensors that still point at either can no
// longer be read: after Close, only the model's structure may be used.
// Close is idempotent.
func (m *Model) Close() error {
	if m.spill != nil {
		for loc, d := range m.spill.deferred {
			d.release()
			delete(m.spill.deferred, loc)
		}
	}
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
