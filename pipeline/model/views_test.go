package model

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
)

// viewModel is testModel with weights large enough to stay in the mapping
// (viewMin) and to be streamed on save (streamMin): in the main graph, in a
// Constant's value, in a subgraph, and one next to an unknown field.
func viewModel() *onnxpb.ModelProto {
	mp := testModel()
	g := mp.Graph
	huge := rawFloats("huge", streamMin) // 4 x streamMin bytes
	huge.DocString = ptr("fields after raw_data survive")
	g.Initializer = append(g.Initializer, huge, rawFloats("mid", viewMin/2))
	g.Node[0].Attribute[0].T = rawFloats("cval", 2*viewMin)
	g.Node[2].Attribute[0].G.Initializer[0] = rawFloats("thenw", streamMin)
	// An unknown field (number 99) after raw_data, in a tensor whose data is viewed.
	unk := rawFloats("unknown", viewMin)
	unk.ProtoReflect().SetUnknown([]byte{0x98, 0x06, 0x2a})
	g.Initializer = append(g.Initializer, unk)
	return mp
}

// TestLoadMapsWeights: Load leaves large raw_data in the mapped file, the
// decoded model equals a plain decode, and every save layout writes exactly
// the bytes that a model decoded the plain way writes.
func TestLoadMapsWeights(t *testing.T) {
	dir := t.TempDir()
	p := writeProto(t, dir, "m.onnx", viewModel())
	m, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := LoadBytes(b, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(m.Proto, plain.Proto) {
		t.Fatal("mapped model differs from the plain decode")
	}
	viewed := 0
	walkTensors(m.Proto, func(v tensorVisit) {
		_, ok := m.viewOf(v.tp.RawData)
		if want := len(v.tp.RawData) >= viewMin; ok != want {
			t.Errorf("tensor %q (%d bytes): view %v, want %v", v.tp.GetName(), len(v.tp.RawData), ok, want)
		}
		if ok {
			viewed++
		}
	})
	if viewed < 5 {
		t.Errorf("%d tensors viewed, want at least 5", viewed)
	}
	for _, opt := range []SaveOptions{
		{SizeThreshold: 1024},
		{ExternalData: true, AllTensorsToOneFile: true, SizeThreshold: 1024},
		{ExternalData: true, SizeThreshold: 0},
		{ExternalData: true, AllTensorsToOneFile: true, SizeThreshold: 1 << 30},
	} {
		want := saveFiles(t, plain, opt)
		got := saveFiles(t, m, opt)
		if len(got) != len(want) {
			t.Fatalf("%+v: %d files, want %d", opt, len(got), len(want))
		}
		for name, w := range want {
			if !bytes.Equal(got[name], w) {
				t.Errorf("%+v: %s differs from the plain model's", opt, name)
			}
		}
		// An inline save must match what proto.Marshal gives.
		if !opt.ExternalData {
			ref, err := proto.MarshalOptions{Deterministic: true}.Marshal(plain.Proto)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got["m.onnx"], ref) {
				t.Errorf("inline save differs from proto.Marshal")
			}
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// saveFiles saves a clone of m (an external save repoints m) into a fresh
// directory and returns the files written.
func saveFiles(t *testing.T, m *Model, opt SaveOptions) map[string][]byte {
	t.Helper()
	c := &Model{Proto: proto.Clone(m.Proto).(*onnxpb.ModelProto), Dir: m.Dir, sources: m.sources, views: map[*byte]view{}}
	// The clone's RawData are copies: carry the views over, as Load made them.
	orig := map[string][]byte{}
	walkTensors(m.Proto, func(v tensorVisit) { orig[v.tp.GetName()] = v.tp.RawData })
	walkTensors(c.Proto, func(v tensorVisit) {
		if r := orig[v.tp.GetName()]; r != nil {
			if vw, ok := m.viewOf(r); ok {
				v.tp.RawData = r
				c.views[&r[0]] = vw
			}
		}
	})
	out := t.TempDir()
	if _, err := c.Save(filepath.Join(out, "m.onnx"), opt); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for name := range dirFiles(t, out) {
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		files[name] = b
	}
	return files
}

// TestLoadMappedErrors: a file that maps but is not a model gets the same
// errors as before.
func TestLoadMappedErrors(t *testing.T) {
	dir := t.TempDir()
	good, err := proto.Marshal(viewModel())
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"truncated": good[:len(good)-100],
		"garbage":   bytes.Repeat([]byte{0xff}, 2*viewMin),
		"no graph":  append(protoBytes(t, &onnxpb.ModelProto{IrVersion: ptr(int64(8))}), bytes.Repeat([]byte{0}, 0)...),
	} {
		p := filepath.Join(dir, "m.onnx")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if m, err := Load(p); err == nil {
			m.Close()
			t.Errorf("%s: loaded", name)
		}
	}
}

func protoBytes(t *testing.T, m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
