package model

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
)

// spillModel is a model with one initializer "w" of n floats in raw_data.
func spillModel(t *testing.T, n int) (*Model, *onnxpb.TensorProto) {
	t.Helper()
	w := rawFloats("w", n)
	mp := &onnxpb.ModelProto{IrVersion: ptr(int64(8)), OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: ptr(int64(17))}},
		Graph: &onnxpb.GraphProto{Name: ptr("g"), Initializer: []*onnxpb.TensorProto{w},
			Node:   []*onnxpb.NodeProto{node("Identity", "id", []string{"w"}, []string{"y"})},
			Output: []*onnxpb.ValueInfoProto{valueInfo("y")}}}
	return &Model{Proto: mp, Dir: t.TempDir()}, w
}

func TestSpillDisabled(t *testing.T) {
	m, w := spillModel(t, 64)
	before := proto.Clone(w)
	ok, err := m.Spill(w)
	if ok || err != nil {
		t.Fatalf("Spill without EnableSpill = %v, %v; want false, nil", ok, err)
	}
	if !proto.Equal(w, before) {
		t.Error("Spill without EnableSpill changed the tensor")
	}
	if err := m.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// TestSpillRoundTrip checks that a spilled tensor reads back the same, saves
// inline and as external data with the same bytes, and that Close removes
// its file and leaves nothing behind.
func TestSpillRoundTrip(t *testing.T) {
	m, w := spillModel(t, 300)
	want := append([]byte{}, w.RawData...)
	// What an inline save must write, byte for byte: the model as it is
	// before the spill, serialized whole.
	wantFile, err := proto.MarshalOptions{Deterministic: true}.Marshal(m.Proto)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	m.EnableSpill(root)
	ok, err := m.Spill(w)
	if !ok || err != nil {
		t.Fatalf("Spill = %v, %v", ok, err)
	}
	if !IsExternal(w) || w.RawData != nil {
		t.Fatalf("spilled tensor is not external: %v", w)
	}
	if dirs, _ := os.ReadDir(root); len(dirs) != 1 {
		t.Fatalf("spill root holds %d entries; want the spill directory", len(dirs))
	}
	if again, err := m.Spill(w); again || err != nil {
		t.Errorf("Spill of an external tensor = %v, %v; want false, nil", again, err)
	}
	got, err := m.ExternalBytes(w)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("ExternalBytes = %d bytes, %v; want the %d bytes spilled", len(got), err, len(want))
	}
	if tv, err := m.Tensor(w); err != nil || len(tv.F32) != 300 {
		t.Fatalf("Tensor: %v", err)
	}

	out := t.TempDir()
	if _, err := m.Save(filepath.Join(out, "inline.onnx"), SaveOptions{}); err != nil {
		t.Fatalf("inline save: %v", err)
	}
	back, err := Load(filepath.Join(out, "inline.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if bw := back.Graph().GetInitializer()[0]; IsExternal(bw) || !bytes.Equal(bw.GetRawData(), want) {
		t.Errorf("inline save: w is not the spilled bytes inline")
	}
	if got, _ := os.ReadFile(filepath.Join(out, "inline.onnx")); !bytes.Equal(got, wantFile) {
		t.Errorf("inline save wrote %d bytes unlike proto.Marshal's %d", len(got), len(wantFile))
	}
	if !IsExternal(w) {
		t.Error("inline save did not leave the model as it was")
	}

	files, err := m.Save(filepath.Join(out, "ext.onnx"), SaveOptions{ExternalData: true, AllTensorsToOneFile: true})
	if err != nil {
		t.Fatalf("external save: %v", err)
	}
	if len(files) != 2 {
		t.Fatalf("external save wrote %v", files)
	}
	data, err := os.ReadFile(files[1])
	if err != nil || !bytes.Equal(data, want) {
		t.Errorf("external data file holds %d bytes, %v; want the spilled bytes", len(data), err)
	}
	for _, e := range w.GetExternalData() {
		if e.GetKey() == "location" && strings.ContainsRune(e.GetValue(), 0) {
			t.Errorf("after an external save w still points at a spill file: %q", e.GetValue())
		}
	}

	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if left, _ := os.ReadDir(root); len(left) != 0 {
		t.Errorf("Close left %d entries in the spill root", len(left))
	}
}

// TestSpillClosed checks that a spilled tensor read after Close fails with an
// error naming it, and that a location crafted to look spilled reads nothing.
func TestSpillClosed(t *testing.T) {
	m, w := spillModel(t, 300)
	m.EnableSpill(t.TempDir())
	if _, err := m.Spill(w); err != nil {
		t.Fatal(err)
	}
	m.Close()
	if _, err := m.ExternalBytes(w); err == nil || !strings.Contains(err.Error(), `"w"`) {
		t.Errorf("read after Close: %v; want an error naming w", err)
	}

	m2, w2 := spillModel(t, 300)
	m2.EnableSpill(t.TempDir())
	if _, err := m2.Spill(w2); err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	forged := rawFloats("forged", 4)
	forged.RawData = nil
	forged.DataLocation = onnxpb.TensorProto_EXTERNAL.Enum()
	forged.ExternalData = externalEntries(spillMark+"0", 0, 16)
	if _, err := m2.ExternalBytes(forged); err == nil {
		t.Error("a location crafted to look spilled read a spill file")
	}
}

// TestWriteDataDeferred: with spilling enabled, WriteData's producer runs
// only when the data is needed: straight into the output on save (inline and
// external, any number of times), once into a spill file when read first;
// its release runs exactly once, at the latest on Close. The bytes saved are
// those of the same tensor given inline.
func TestWriteDataDeferred(t *testing.T) {
	const n = 20000
	src := rawFloats("src", n/4).RawData
	for _, readFirst := range []bool{false, true} {
		m, w := spillModel(t, n/4)
		copy(w.RawData, src) // the same bytes the producer gives
		wantInline, err := proto.MarshalOptions{Deterministic: true}.Marshal(m.Proto)
		if err != nil {
			t.Fatal(err)
		}
		m.EnableSpill(t.TempDir())
		runs, releases := 0, 0
		w.RawData = nil
		if err := m.WriteData(w, n, func(dst io.Writer) error { runs++; _, err := dst.Write(src); return err }, func() { releases++ }); err != nil {
			t.Fatal(err)
		}
		if runs != 0 || !IsExternal(w) {
			t.Fatalf("readFirst=%v: producer ran %d times before anything needed it; external %v", readFirst, runs, IsExternal(w))
		}
		if readFirst {
			b, err := m.ExternalBytes(w)
			if err != nil || !bytes.Equal(b, src) {
				t.Fatalf("read: %v", err)
			}
			if _, err := m.ExternalBytes(w); err != nil || runs != 1 || releases != 1 {
				t.Fatalf("second read: %v; producer ran %d times, released %d", err, runs, releases)
			}
		}
		out := filepath.Join(t.TempDir(), "m.onnx")
		if _, err := m.Save(out, SaveOptions{SizeThreshold: 1024}); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, wantInline) {
			t.Errorf("readFirst=%v: inline save differs from the model with the data inline", readFirst)
		}
		ext := filepath.Join(t.TempDir(), "m.onnx")
		if _, err := m.Save(ext, SaveOptions{ExternalData: true, AllTensorsToOneFile: true, SizeThreshold: 1024}); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(ext + ".data")
		if err != nil || !bytes.Equal(data, src) {
			t.Errorf("readFirst=%v: external data file: %v", readFirst, err)
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		if releases != 1 {
			t.Errorf("readFirst=%v: released %d times, want 1", readFirst, releases)
		}
	}
}
