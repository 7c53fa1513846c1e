package model

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
)

// Loading without copying the weights.
//
// Go's protobuf decoder copies every bytes field out of its input, so decoding
// a model copies all its weights into fresh memory, which is the slowest
// thing this program does. Load instead maps the file (mapFile) and decodes a
// skeleton of it: the model's bytes with every large raw_data replaced by a
// small marker. After decoding, each marked tensor's RawData is pointed at its
// bytes inside the mapping. A weight's bytes are then read only when a step
// needs its values, and Save copies them from the file to the output in the
// kernel (copy_file_range), never through this process's memory.

// viewMin is the size from which raw_data stays in the mapping. Smaller
// tensors are copied: it costs nothing and most of them are read anyway.
const viewMin = 4096

// source is one mapped model file.
type source struct {
	f     *os.File
	data  []byte
	unmap func() error
}

// view places one raw_data inside a source.
type view struct {
	src *source
	off int64
	n   int64
}

// markerLen is the length of a marker: a per-load random token and an index.
const markerLen = 16 + 4

var (
	tensorDesc   = (&onnxpb.TensorProto{}).ProtoReflect().Descriptor()
	modelDesc    = (&onnxpb.ModelProto{}).ProtoReflect().Descriptor()
	reachesTensr = messagesReaching(modelDesc, tensorDesc)
)

// messagesReaching lists the message types, from root down, that can hold a
// message of type target (target included): the only ones the skeleton
// builder descends into.
func messagesReaching(root, target protoreflect.MessageDescriptor) map[protoreflect.FullName]bool {
	all := map[protoreflect.FullName]protoreflect.MessageDescriptor{}
	var collect func(md protoreflect.MessageDescriptor)
	collect = func(md protoreflect.MessageDescriptor) {
		if all[md.FullName()] != nil {
			return
		}
		all[md.FullName()] = md
		fs := md.Fields()
		for i := 0; i < fs.Len(); i++ {
			if m := fs.Get(i).Message(); m != nil {
				collect(m)
			}
		}
	}
	collect(root)
	reach := map[protoreflect.FullName]bool{target.FullName(): true}
	for changed := true; changed; {
		changed = false
		for name, md := range all {
			if reach[name] {
				continue
			}
			fs := md.Fields()
			for i := 0; i < fs.Len(); i++ {
				if m := fs.Get(i).Message(); m != nil && reach[m.FullName()] {
					reach[name], changed = true, true
					break
				}
			}
		}
	}
	return reach
}

// skeleton builds the marked copy of a serialized message.
type skeleton struct {
	data  []byte // the whole serialized model
	token [16]byte
	views [][]byte
	offs  []int64 // where each view starts in data
}

// maxSkeletonDepth bounds the recursion; deeper messages are copied whole
// (their raw_data then is copied too, which is only slower).
const maxSkeletonDepth = 64

// message appends to dst the fields of b, a message of type md, with large
// raw_data replaced by markers.
func (s *skeleton) message(dst, b []byte, md protoreflect.MessageDescriptor, depth int) ([]byte, error) {
	isTensor := md.FullName() == tensorDesc.FullName()
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return nil, protowire.ParseError(m)
		}
		field := b[:n+m]
		b = b[n+m:]
		if typ != protowire.BytesType {
			dst = append(dst, field...)
			continue
		}
		v, _ := protowire.ConsumeBytes(field[n:])
		fd := md.Fields().ByNumber(num)
		switch {
		case isTensor && num == tensorRawDataField && len(v) >= viewMin:
			var mark [markerLen]byte
			copy(mark[:], s.token[:])
			binary.LittleEndian.PutUint32(mark[16:], uint32(len(s.views)))
			// v is a slice of data, so the two end at the same capacity.
			s.offs = append(s.offs, int64(cap(s.data)-cap(v)))
			s.views = append(s.views, v[:len(v):len(v)])
			dst = protowire.AppendTag(dst, num, protowire.BytesType)
			dst = protowire.AppendBytes(dst, mark[:])
		case fd != nil && fd.Message() != nil && depth < maxSkeletonDepth && reachesTensr[fd.Message().FullName()]:
			sub, err := s.message(nil, v, fd.Message(), depth+1)
			if err != nil {
				return nil, err
			}
			dst = protowire.AppendTag(dst, num, protowire.BytesType)
			dst = protowire.AppendBytes(dst, sub)
		default:
			dst = append(dst, field...)
		}
	}
	return dst, nil
}

// errNoViews says that decodeViews found nothing to leave in place.
var errNoViews = errors.New("no large raw_data")

// decodeViews decodes data (which must stay valid while the model lives)
// with every raw_data of at least viewMin bytes left in data: the tensor's
// RawData is a slice of data. It returns, keyed by its first byte, where
// each such slice is in data (with no source yet). It returns errNoViews, or a wire error, when a
// plain decode must be used instead.
func decodeViews(data []byte) (*onnxpb.ModelProto, map[*byte]view, error) {
	s := &skeleton{data: data}
	if _, err := io.ReadFull(rand.Reader, s.token[:]); err != nil {
		return nil, nil, err
	}
	skel, err := s.message(make([]byte, 0, 1<<16), data, modelDesc, 0)
	if err != nil {
		return nil, nil, err
	}
	if len(s.views) == 0 {
		return nil, nil, errNoViews
	}
	mp := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(skel, mp); err != nil {
		return nil, nil, err
	}
	offs := map[*byte]view{}
	walkTensors(mp, func(v tensorVisit) {
		r := v.tp.RawData
		if len(r) != markerLen || !bytes.Equal(r[:16], s.token[:]) {
			return
		}
		i := binary.LittleEndian.Uint32(r[16:])
		if int(i) < len(s.views) && s.views[i] != nil {
			v.tp.RawData, s.views[i] = s.views[i], nil
			offs[&v.tp.RawData[0]] = view{off: s.offs[i], n: int64(len(v.tp.RawData))}
		}
	})
	attached := len(offs)
	if attached != len(s.views) {
		// A marked tensor that walkTensors does not visit: not a place
		// ONNX puts tensors, but decode it the plain way rather than lose it.
		return nil, nil, fmt.Errorf("%d of %d large tensors found after decoding", attached, len(s.views))
	}
	return mp, offs, nil
}

// viewOf returns where raw's bytes are in a mapped model file, if they are
// a view Load left there.
func (m *Model) viewOf(raw []byte) (view, bool) {
	if len(raw) == 0 {
		return view{}, false
	}
	v, ok := m.views[&raw[0]]
	if !ok || int64(len(raw)) > v.n {
		return view{}, false
	}
	return view{src: v.src, off: v.off, n: int64(len(raw))}, true
}

// unmapAll releases the mappings of the model's files. Every tensor whose
// RawData was a view then points at memory that is gone: Close's contract.
func (m *Model) unmapAll() error {
	var errs []error
	for _, s := range m.sources {
		if s.unmap != nil {
			errs = append(errs, s.unmap())
		}
		errs = append(errs, s.f.Close())
	}
	m.sources, m.views = nil, nil
	return errors.Join(errs...)
}
