package model

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
)

// unknownField encodes fields with numbers no ONNX version uses, as a newer
// producer might write them: a varint, a string and a nested message.
func unknownField(tag string) []byte {
	var b []byte
	b = protowire.AppendTag(b, 990, protowire.VarintType)
	b = protowire.AppendVarint(b, 12345)
	b = protowire.AppendTag(b, 991, protowire.BytesType)
	b = protowire.AppendString(b, "unknown-"+tag)
	inner := protowire.AppendTag(nil, 1, protowire.Fixed64Type)
	inner = protowire.AppendFixed64(inner, 0xdeadbeef)
	b = protowire.AppendTag(b, 992, protowire.BytesType)
	return protowire.AppendBytes(b, inner)
}

// TestUnknownFieldsSurvive: fields quantprep does not know (from a newer ONNX)
// come out of Load and Save byte for byte, whatever the layout.
func TestUnknownFieldsSurvive(t *testing.T) {
	mp := testModel()
	setUnknown := func(m proto.Message, tag string) {
		r := m.ProtoReflect()
		r.SetUnknown(append(r.GetUnknown(), unknownField(tag)...))
	}
	setUnknown(mp, "model")
	setUnknown(mp.Graph.Node[1], "node")
	setUnknown(mp.Graph.Initializer[0], "big")   // goes external
	setUnknown(mp.Graph.Initializer[1], "small") // stays inline
	check := func(t *testing.T, path string) {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		got := &onnxpb.ModelProto{}
		if err := proto.Unmarshal(b, got); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			m   proto.Message
			tag string
		}{{got, "model"}, {got.Graph.Node[1], "node"}, {got.Graph.Initializer[0], "big"}, {got.Graph.Initializer[1], "small"}} {
			if u := c.m.ProtoReflect().GetUnknown(); !bytes.Equal(u, unknownField(c.tag)) {
				t.Errorf("%s: unknown fields %x, want %x", c.tag, u, unknownField(c.tag))
			}
		}
	}
	dir := t.TempDir()
	src := writeProto(t, dir, "src.onnx", mp)
	for i, opt := range []SaveOptions{
		{},
		{ExternalData: true, AllTensorsToOneFile: true, SizeThreshold: 1024},
		{ExternalData: true, SizeThreshold: 0},
	} {
		m, err := Load(src)
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "out.onnx")
		if _, err := m.Save(out, opt); err != nil {
			t.Fatal(err)
		}
		check(t, out)
		// And once more from the saved files, inline.
		if m, err = Load(out); err != nil {
			t.Fatal(err)
		}
		out2 := filepath.Join(t.TempDir(), "out.onnx")
		if _, err := m.Save(out2, SaveOptions{}); err != nil {
			t.Fatal(err)
		}
		check(t, out2)
		if i == 0 {
			// Inline from inline: the whole file is unchanged.
			a, _ := os.ReadFile(src)
			b, _ := os.ReadFile(out2)
			want, _ := proto.MarshalOptions{Deterministic: true}.Marshal(mp)
			if !bytes.Equal(b, want) || len(a) != len(b) {
				t.Error("an inline round trip changed the bytes")
			}
		}
	}
}

// FuzzLoad: arbitrary bytes never panic Load, nor reading the tensors and the
// graph queries of what loads; a failure is always ErrInvalid.
func FuzzLoad(f *testing.F) {
	b, _ := proto.Marshal(testModel())
	f.Add(b)
	f.Add([]byte{})
	f.Add([]byte("\x08\x08\x3a\x00"))
	f.Add(b[:len(b)/2])
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := LoadBytes(b, "")
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrOverBudget) {
				t.Fatalf("error %v does not wrap ErrInvalid or ErrOverBudget", err)
			}
			return
		}
		walkTensors(m.Proto, func(v tensorVisit) {
			m.Tensor(v.tp) // errors are fine, panics are not
		})
		exerciseGraph(m.Graph())
		// Saving what loaded must not panic either; the data file names come
		// from tensor names, so save one file per tensor.
		dir := t.TempDir()
		for _, opt := range []SaveOptions{{}, {ExternalData: true}} {
			if _, err := m.Save(filepath.Join(dir, "m.onnx"), opt); err == nil {
				if _, err := Load(filepath.Join(dir, "m.onnx")); err != nil {
					t.Fatalf("the saved model does not load: %v", err)
				}
			}
		}
	})
}
