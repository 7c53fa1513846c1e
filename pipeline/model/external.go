package model

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// ExternalRef is a parsed external_data entry list of a TensorProto.
type ExternalRef struct {
	Location string
	Offset   int64
	// Length is -1 when the entry gives none (the data runs to the end of the file).
	Length int64
}

// ParseExternal reads tp's external_data entries.
func ParseExternal(tp *onnxpb.TensorProto) (ExternalRef, error) {
	r := ExternalRef{Length: -1}
	hasLength := false
	for _, e := range tp.GetExternalData() {
		var err error
		switch e.GetKey() {
		case "location":
			r.Location = e.GetValue()
		case "offset":
			r.Offset, err = strconv.ParseInt(e.GetValue(), 10, 64)
		case "length":
			r.Length, err = strconv.ParseInt(e.GetValue(), 10, 64)
			hasLength = true
		}
		if err != nil {
			return r, fmt.Errorf("%w: tensor %q: external data %s %q: %v", ErrInvalid, tp.GetName(), e.GetKey(), e.GetValue(), err)
		}
	}
	if r.Location == "" {
		return r, fmt.Errorf("%w: tensor %q: external data without a location", ErrInvalid, tp.GetName())
	}
	// -1 stands for an absent length ("to the end"); written out, it is a
	// negative length like any other.
	if r.Offset < 0 || r.Length < -1 || hasLength && r.Length < 0 {
		return r, fmt.Errorf("%w: tensor %q: negative external data offset or length", ErrInvalid, tp.GetName())
	}
	return r, nil
}

// ResolveLocation turns an external data location into a path under dir. A
// location that is absolute, climbs out with "..", or reaches outside dir through
// a symlink is an error naming the tensor.
func ResolveLocation(dir, location, tensorName string) (string, error) {
	bad := func(why string) error {
		return fmt.Errorf("%w: tensor %q: external data location %q %s", ErrInvalid, tensorName, location, why)
	}
	if dir == "" {
		return "", bad("cannot be read: the model was given without its directory")
	}
	if strings.ContainsRune(location, 0) {
		return "", bad("contains a NUL byte")
	}
	if filepath.IsAbs(location) || strings.HasPrefix(location, "/") || strings.HasPrefix(location, `\`) {
		return "", bad("is absolute; it must be relative to the model's directory")
	}
	clean := filepath.Clean(filepath.FromSlash(location))
	if clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
		return "", bad("escapes the model's directory")
	}
	p := filepath.Join(dir, clean)
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", fmt.Errorf("tensor %q: model directory: %w", tensorName, err)
	}
	realP, err := filepath.EvalSymlinks(p)
	if err != nil {
		if os.IsNotExist(err) {
			return "", fmt.Errorf("%w: tensor %q: external data file %q not found", ErrInvalid, tensorName, location)
		}
		return "", fmt.Errorf("tensor %q: external data file %q: %w", tensorName, location, err)
	}
	rel, err := filepath.Rel(realDir, realP)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", bad("points outside the model's directory through a symlink")
	}
	return p, nil
}

// externalSection resolves tp's external data to a file path and a byte range
// inside it, checking that the range lies within the file. It reads no data.
func (m *Model) externalSection(tp *onnxpb.TensorProto) (path string, offset, length int64, err error) {
	ref, err := ParseExternal(tp)
	if err != nil {
		return "", 0, 0, err
	}
	var p string
	if strings.HasPrefix(ref.Location, spillMark) {
		p, err = m.spillPath(ref.Location, tp.GetName())
	} else {
		p, err = ResolveLocation(m.Dir, ref.Location, tp.GetName())
	}
	if err != nil {
		return "", 0, 0, err
	}
	st, err := os.Stat(p)
	if err != nil {
		return "", 0, 0, fmt.Errorf("tensor %q: %w", tp.GetName(), err)
	}
	if !st.Mode().IsRegular() {
		return "", 0, 0, fmt.Errorf("%w: tensor %q: external data location %q is not a regular file", ErrInvalid, tp.GetName(), ref.Location)
	}
	length = ref.Length
	if length < 0 {
		length = st.Size() - ref.Offset
	}
	if length < 0 || ref.Offset > st.Size() || length > st.Size()-ref.Offset {
		end := ref.Offset + length
		if ref.Length < 0 {
			end = ref.Offset
		}
		return "", 0, 0, fmt.Errorf("%w: tensor %q: external data [%d, %d) is past the end of %q (%d bytes)",
			ErrInvalid, tp.GetName(), ref.Offset, end, ref.Location, st.Size())
	}
	return p, ref.Offset, length, nil
}

// OpenExternal opens the byte range that tp's external data points to. The
// caller closes the returned Closer.
func (m *Model) OpenExternal(tp *onnxpb.TensorProto) (*io.SectionReader, io.Closer, error) {
	p, off, n, err := m.externalSection(tp)
	if err != nil {
		return nil, nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, nil, fmt.Errorf("tensor %q: %w", tp.GetName(), err)
	}
	return io.NewSectionReader(f, off, n), f, nil
}

// ExternalBytes reads the bytes that tp's external data points to.
func (m *Model) ExternalBytes(tp *onnxpb.TensorProto) ([]byte, error) {
	sr, c, err := m.OpenExternal(tp)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	b := make([]byte, sr.Size())
	if _, err := io.ReadFull(sr, b); err != nil {
		return nil, fmt.Errorf("tensor %q: reading external data: %w", tp.GetName(), err)
	}
	return b, nil
}

// RawBytes returns tp's data in raw_data encoding, without decoding it, and
// a function to call once the bytes are no longer used. Inline data is
// returned as it is (typed fields converted); external data is mapped from
// its file rather than read into memory where the platform allows it. The
// bytes are read-only.
func (m *Model) RawBytes(tp *onnxpb.TensorProto) ([]byte, func(), error) {
	noop := func() {}
	if !IsExternal(tp) {
		raw, err := tensor.RawData(tp)
		return raw, noop, err
	}
	p, off, n, err := m.externalSection(tp)
	if err != nil {
		return nil, nil, err
	}
	if n == 0 {
		return []byte{}, noop, nil
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, nil, fmt.Errorf("tensor %q: %w", tp.GetName(), err)
	}
	b, unmap, err := mapSection(f, off, n)
	f.Close() // a mapping outlives its descriptor
	if err == nil {
		return b, func() { unmap() }, nil
	}
	b, err = m.ExternalBytes(tp)
	return b, noop, err
}
