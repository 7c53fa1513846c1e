package model

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"google.golang.org/protobuf/proto"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
)

// bigExternalModel writes a model whose one initializer has size bytes of
// external data in a sparse file, and loads it.
func bigExternalModel(t testing.TB, size int64) *Model {
	dir := t.TempDir()
	data := filepath.Join(dir, "w.bin")
	f, err := os.Create(data)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Truncate(data, size); err != nil {
		t.Fatal(err)
	}
	mp := testModel()
	mp.Graph.Initializer = append(mp.Graph.Initializer, &onnxpb.TensorProto{
		Name: ptr("huge"), DataType: ptr(int32(onnxpb.TensorProto_UINT8)), Dims: []int64{size},
		DataLocation: onnxpb.TensorProto_EXTERNAL.Enum(), ExternalData: externalEntries("w.bin", 0, size),
	})
	m, err := Load(writeProto(t, dir, "m.onnx", mp))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestSaveStreamsExternalData: re-saving external data copies it file to file;
// the heap does not grow with the size of the weights.
func TestSaveStreamsExternalData(t *testing.T) {
	const size = 48 << 20
	m := bigExternalModel(t, size)
	out := filepath.Join(t.TempDir(), "out.onnx")
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	files, err := m.Save(out, SaveOptions{ExternalData: true, AllTensorsToOneFile: true, SizeThreshold: 1024})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("Save allocated %d bytes to copy %d bytes of external data", alloc, size)
	if alloc > 4<<20 {
		t.Errorf("Save allocated %d bytes for %d bytes of external data", alloc, size)
	}
	fi, err := os.Stat(files[1])
	if err != nil || fi.Size() != size+4096+2048*3 {
		t.Errorf("data file: %v, %v", fi, err)
	}
}

// BenchmarkSave measures saving 64 MiB of weights: from memory to one external
// file, and from one external file to another.
func BenchmarkSave(b *testing.B) {
	const size = 64 << 20
	b.Run("inline-to-external", func(b *testing.B) {
		mp := testModel()
		for i := range 16 {
			mp.Graph.Initializer = append(mp.Graph.Initializer, rawFloats("w"+string(rune('a'+i)), size/16/4))
		}
		dir := b.TempDir()
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			// Save moves the tensors out of the model: give each round a fresh copy.
			b.StopTimer()
			m := &Model{Proto: proto.Clone(mp).(*onnxpb.ModelProto)}
			b.StartTimer()
			if _, err := m.Save(filepath.Join(dir, "m.onnx"), SaveOptions{ExternalData: true, AllTensorsToOneFile: true, SizeThreshold: 1024}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("external-to-external", func(b *testing.B) {
		m := bigExternalModel(b, size)
		dir := b.TempDir()
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			src := m.Dir
			if _, err := m.Save(filepath.Join(dir, "m.onnx"), SaveOptions{ExternalData: true, AllTensorsToOneFile: true, SizeThreshold: 1024}); err != nil {
				b.Fatal(err)
			}
			// Save moved m onto the new files; keep reading the same source.
			b.StopTimer()
			m = mustLoad(b, filepath.Join(src, "m.onnx"))
			b.StartTimer()
		}
	})
}

func mustLoad(tb testing.TB, path string) *Model {
	m, err := Load(path)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}
