package model

import (
	"bufio"
	"fmt"
	"os"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
)

// The model file, serialized one main-graph initializer at a time.

// Field numbers of onnx.proto that streamModel splits the messages at.
const (
	modelGraphField       = 7
	graphInitializerField = 5
	tensorRawDataField    = 9
)

// streamModel writes the model in the bytes that a deterministic
// proto.Marshal gives (fields in number order, unknown fields last), but
// one main-graph initializer at a time. Tensors in readLater are still
// external; each is read, written and (for an inline save, which restores the
// model afterwards) dropped in its turn.
func (s *saver) streamModel(f *os.File, readLater map[*onnxpb.TensorProto]*item) error {
	mo := proto.MarshalOptions{Deterministic: true}
	mp := s.m.Proto
	g := mp.GetGraph()
	tooLarge := func(n int64) error {
		hint := "save it with save_as_external_data"
		if s.opt.ExternalData {
			hint = "lower external_data_size_threshold"
		}
		return fmt.Errorf("%w: the model is %d bytes, over protobuf's 2 GB limit: %s", ErrTooLarge, n, hint)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var written int64
	put := func(b []byte) error {
		n, err := w.Write(b)
		written += int64(n)
		if err != nil {
			return fmt.Errorf("%s: %w", s.base, err)
		}
		return nil
	}
	if g == nil {
		b, err := mo.Marshal(mp)
		if err != nil {
			return fmt.Errorf("serialize model: %w", err)
		}
		if len(b) > MaxInlineSize {
			return tooLarge(int64(len(b)))
		}
		if err := put(b); err != nil {
			return err
		}
		return w.Flush()
	}
	headM, tailM := splitFields(mp, modelGraphField)
	headG, tailG := splitFields(g, graphInitializerField)
	// The initializers' sizes, without reading the ones still external.
	sizes := make([]int64, len(g.GetInitializer()))
	graphLen := int64(proto.Size(headG) + proto.Size(tailG))
	for i, tp := range g.GetInitializer() {
		if it := readLater[tp]; it != nil {
			ext, loc := tp.ExternalData, tp.DataLocation
			tp.ExternalData, tp.DataLocation = nil, nil
			sizes[i] = int64(proto.Size(tp)) + int64(protowire.SizeTag(tensorRawDataField)) + int64(protowire.SizeBytes(int(it.size)))
			tp.ExternalData, tp.DataLocation = ext, loc
		} else {
			sizes[i] = int64(proto.Size(tp))
		}
		graphLen += int64(protowire.SizeTag(graphInitializerField)) + int64(protowire.SizeBytes(int(sizes[i])))
	}
	total := int64(proto.Size(headM)+proto.Size(tailM)) + int64(protowire.SizeTag(modelGraphField)) + int64(protowire.SizeBytes(int(graphLen)))
	if total > MaxInlineSize {
		return tooLarge(total)
	}
	part := func(m proto.Message) error {
		b, err := mo.Marshal(m)
		if err != nil {
			return fmt.Errorf("serialize model: %w", err)
		}
		return put(b)
	}
	if err := part(headM); err != nil {
		return err
	}
	if err := put(protowire.AppendVarint(protowire.AppendTag(nil, modelGraphField, protowire.BytesType), uint64(graphLen))); err != nil {
		return err
	}
	if err := part(headG); err != nil {
		return err
	}
	for i, tp := range g.GetInitializer() {
		if err := s.ctx.Err(); err != nil {
			return err
		}
		if err := put(protowire.AppendVarint(protowire.AppendTag(nil, graphInitializerField, protowire.BytesType), uint64(sizes[i]))); err != nil {
			return err
		}
		var ds dataSource
		stream := false
		if it := readLater[tp]; it != nil && !s.opt.ExternalData {
			ds, stream = it.source(), true
		} else if it == nil && len(tp.RawData) >= streamMin {
			ds, stream = s.m.sourceOf(tp.RawData), true
		}
		if stream {
			// The tensor's fields around raw_data are serialized; its data
			// goes from its source to the file.
			ext, loc := tp.ExternalData, tp.DataLocation
			if readLater[tp] != nil {
				tp.ExternalData, tp.DataLocation = nil, nil
			}
			head, tail := splitFields(tp, tensorRawDataField)
			hb, err := mo.Marshal(head)
			var tb []byte
			if err == nil {
				tb, err = mo.Marshal(tail)
			}
			tp.ExternalData, tp.DataLocation = ext, loc
			if err != nil {
				return fmt.Errorf("serialize tensor %q: %w", tp.GetName(), err)
			}
			hdr := protowire.AppendVarint(protowire.AppendTag(nil, tensorRawDataField, protowire.BytesType), uint64(ds.n))
			if got := int64(len(hb)+len(hdr)+len(tb)) + ds.n; got != sizes[i] {
				return fmt.Errorf("%s: tensor %q serialized to %d bytes, %d expected (a bug)", s.base, tp.GetName(), got, sizes[i])
			}
			if err := put(hb); err != nil {
				return err
			}
			if err := put(hdr); err != nil {
				return err
			}
			if err := w.Flush(); err != nil {
				return fmt.Errorf("%s: %w", s.base, err)
			}
			if err := s.copyData(f, s.model.wb, ds, tp.GetName()); err != nil {
				return fmt.Errorf("%s: tensor %q: %w", s.base, tp.GetName(), err)
			}
			written += ds.n
			if err := put(tb); err != nil {
				return err
			}
			continue
		}
		if readLater[tp] != nil {
			raw, err := s.m.ExternalBytes(tp)
			if err != nil {
				return err
			}
			tp.RawData, tp.ExternalData, tp.DataLocation = raw, nil, nil
		}
		b, err := mo.Marshal(tp)
		if err != nil {
			return fmt.Errorf("serialize tensor %q: %w", tp.GetName(), err)
		}
		if int64(len(b)) != sizes[i] {
			return fmt.Errorf("%s: tensor %q serialized to %d bytes, %d expected (a bug)", s.base, tp.GetName(), len(b), sizes[i])
		}
		if err := put(b); err != nil {
			return err
		}
	}
	if err := part(tailG); err != nil {
		return err
	}
	if err := part(tailM); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("%s: %w", s.base, err)
	}
	if written != total {
		return fmt.Errorf("%s: wrote %d bytes, %d expected (a bug)", s.base, written, total)
	}
	return nil
}

// splitFields returns two messages of m's type: one with m's fields numbered
// below num, one with those above it and m's unknown fields. Serialized
// deterministically around field num, they give m's own bytes. They share m's
// values: they are for serializing only.
func splitFields(m proto.Message, num protowire.Number) (head, tail proto.Message) {
	r := m.ProtoReflect()
	h, t := r.New(), r.New()
	r.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch n := fd.Number(); {
		case n < num:
			h.Set(fd, v)
		case n > num:
			t.Set(fd, v)
		}
		return true
	})
	t.SetUnknown(r.GetUnknown())
	return h.Interface(), t.Interface()
}
