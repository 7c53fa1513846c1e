package model

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
)

type extEntry struct {
	location       string
	offset, length string
}

func entries(tp *onnxpb.TensorProto) *extEntry {
	if !IsExternal(tp) {
		return nil
	}
	var keys []string
	e := &extEntry{}
	for _, kv := range tp.GetExternalData() {
		keys = append(keys, kv.GetKey())
		switch kv.GetKey() {
		case "location":
			e.location = kv.GetValue()
		case "offset":
			e.offset = kv.GetValue()
		case "length":
			e.length = kv.GetValue()
		}
	}
	if !slices.Equal(keys, []string{"location", "offset", "length"}) {
		return &extEntry{location: "keys " + strings.Join(keys, ",")}
	}
	return e
}

func TestSaveLayouts(t *testing.T) {
	tests := []struct {
		name  string
		opt   SaveOptions
		files []string // written, model first
		// want maps each tensor that goes external to its entries.
		want map[string]extEntry
	}{
		{
			name:  "inline",
			opt:   SaveOptions{SizeThreshold: 1024},
			files: []string{"m.onnx"},
		},
		{
			name:  "inline ignores the external flags",
			opt:   SaveOptions{AllTensorsToOneFile: true, Location: "x.data", SizeThreshold: 0},
			files: []string{"m.onnx"},
		},
		{
			name:  "one file, default name",
			opt:   SaveOptions{ExternalData: true, AllTensorsToOneFile: true, SizeThreshold: 1024},
			files: []string{"m.onnx", "m.onnx.data"},
			want: map[string]extEntry{
				"big":   {"m.onnx.data", "0", "4096"},
				"typed": {"m.onnx.data", "4096", "2048"},
				"big2":  {"m.onnx.data", "6144", "2048"},
				"thenw": {"m.onnx.data", "8192", "2048"},
			},
		},
		{
			name:  "one file in a new subdirectory",
			opt:   SaveOptions{ExternalData: true, AllTensorsToOneFile: true, Location: "w/weights.bin", SizeThreshold: 2048},
			files: []string{"m.onnx", "w/weights.bin"},
			want: map[string]extEntry{
				"big":   {"w/weights.bin", "0", "4096"},
				"typed": {"w/weights.bin", "4096", "2048"},
				"big2":  {"w/weights.bin", "6144", "2048"},
				"thenw": {"w/weights.bin", "8192", "2048"},
			},
		},
		{
			name:  "threshold above every tensor writes no data file",
			opt:   SaveOptions{ExternalData: true, AllTensorsToOneFile: true, SizeThreshold: 4097},
			files: []string{"m.onnx"},
		},
		{
			name:  "threshold 0 moves every initializer, never the Constant",
			opt:   SaveOptions{ExternalData: true, AllTensorsToOneFile: true, Location: "d", SizeThreshold: 0},
			files: []string{"m.onnx", "d"},
			want: map[string]extEntry{
				"big":   {"d", "0", "4096"},
				"small": {"d", "4096", "64"},
				"typed": {"d", "4160", "2048"},
				"big2":  {"d", "6208", "2048"},
				"thenw": {"d", "8256", "2048"},
				"elsew": {"d", "10304", "16"},
			},
		},
		{
			name:  "one file per tensor",
			opt:   SaveOptions{ExternalData: true, Location: "ignored", SizeThreshold: 1024},
			files: []string{"m.onnx", "big", "typed", "big2", "thenw"},
			want: map[string]extEntry{
				"big":   {"big", "0", "4096"},
				"typed": {"typed", "0", "2048"},
				"big2":  {"big2", "0", "2048"},
				"thenw": {"thenw", "0", "2048"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := &Model{Proto: testModel()}
			wantBytes := tensorBytes(t, src)
			dir := t.TempDir()
			out := filepath.Join(dir, "m.onnx")
			files, err := src.Save(out, tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			var wantFiles []string
			for _, f := range tc.files {
				wantFiles = append(wantFiles, filepath.Join(dir, filepath.FromSlash(f)))
			}
			if !slices.Equal(files, wantFiles) {
				t.Errorf("files = %v, want %v", files, wantFiles)
			}
			if got := dirFiles(t, dir); len(got) != len(tc.files) {
				t.Errorf("directory holds %v, want only %v", got, tc.files)
			}
			got, err := Load(out)
			if err != nil {
				t.Fatal(err)
			}
			for name, v := range allTensors(got.Proto) {
				e := entries(v.tp)
				w, ok := tc.want[name]
				switch {
				case ok && (e == nil || *e != w):
					t.Errorf("tensor %s: external data %+v, want %+v", name, e, w)
				case !ok && e != nil:
					t.Errorf("tensor %s: external data %+v, want inline", name, e)
				case ok && (v.tp.RawData != nil || v.tp.Int64Data != nil):
					t.Errorf("tensor %s: external but still holds data", name)
				}
			}
			if gotBytes := tensorBytes(t, got); !reflect.DeepEqual(gotBytes, wantBytes) {
				t.Error("tensor values changed in the round trip")
			}
			// After an external save the model in memory describes the new files.
			if tc.opt.ExternalData {
				if src.Dir != dir {
					t.Errorf("Dir after save = %q, want %q", src.Dir, dir)
				}
				if b := tensorBytes(t, src); !reflect.DeepEqual(b, wantBytes) {
					t.Error("the saved model no longer reads its values")
				}
			}
		})
	}
}

// TestSaveTypedStaysTypedInline: only tensors that go external are converted to
// raw bytes; everything else is written as it was.
func TestSaveTypedStaysTypedInline(t *testing.T) {
	m := &Model{Proto: testModel()}
	dir := t.TempDir()
	if _, err := m.Save(filepath.Join(dir, "m.onnx"), SaveOptions{ExternalData: true, AllTensorsToOneFile: true, SizeThreshold: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	got, err := Load(filepath.Join(dir, "m.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	tp := allTensors(got.Proto)["typed"].tp
	if len(tp.GetInt64Data()) != 256 || tp.RawData != nil {
		t.Errorf("typed tensor was rewritten: %d int64s, raw %v", len(tp.GetInt64Data()), tp.RawData != nil)
	}
}

func TestSaveDeterministic(t *testing.T) {
	for _, opt := range []SaveOptions{
		{SizeThreshold: 1024},
		{ExternalData: true, AllTensorsToOneFile: true, SizeThreshold: 1024},
		{ExternalData: true, SizeThreshold: 0},
	} {
		var prev map[string][]byte
		for range 2 {
			dir := t.TempDir()
			m := &Model{Proto: testModel()}
			if _, err := m.Save(filepath.Join(dir, "m.onnx"), opt); err != nil {
				t.Fatal(err)
			}
			cur := map[string][]byte{}
			for name := range dirFiles(t, dir) {
				b, err := os.ReadFile(filepath.Join(dir, name))
				if err != nil {
					t.Fatal(err)
				}
				cur[name] = b
			}
			if prev != nil && !reflect.DeepEqual(prev, cur) {
				t.Errorf("%+v: two saves differ", opt)
			}
			prev = cur
		}
	}
}

// TestSaveFromExternal loads a model with external data and saves it in each
// layout, in another directory and in place.
func TestSaveFromExternal(t *testing.T) {
	srcDir := t.TempDir()
	src := filepath.Join(srcDir, "m.onnx")
	m0 := &Model{Proto: testModel()}
	want := tensorBytes(t, m0)
	firstExt := SaveOptions{ExternalData: true, SizeThreshold: 1024}
	if _, err := m0.Save(src, firstExt); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		opt     SaveOptions
		inPlace bool
	}{
		{"inline", SaveOptions{}, false},
		{"one file", SaveOptions{ExternalData: true, AllTensorsToOneFile: true, SizeThreshold: 1024}, false},
		{"one file, small ones inlined", SaveOptions{ExternalData: true, AllTensorsToOneFile: true, SizeThreshold: 4096}, false},
		{"per tensor", SaveOptions{ExternalData: true, SizeThreshold: 1024}, false},
		{"in place, same layout", firstExt, true},
		{"in place, one file", SaveOptions{ExternalData: true, AllTensorsToOneFile: true, SizeThreshold: 1024}, true},
		{"in place, inline", SaveOptions{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := src
			if tc.inPlace {
				// Work on a copy of the source directory.
				d := t.TempDir()
				for name := range dirFiles(t, srcDir) {
					b, _ := os.ReadFile(filepath.Join(srcDir, name))
					os.WriteFile(filepath.Join(d, name), b, 0o644)
				}
				in = filepath.Join(d, "m.onnx")
			}
			m, err := Load(in)
			if err != nil {
				t.Fatal(err)
			}
			out := in
			if !tc.inPlace {
				out = filepath.Join(t.TempDir(), "out.onnx")
			}
			if _, err := m.Save(out, tc.opt); err != nil {
				t.Fatal(err)
			}
			got, err := Load(out)
			if err != nil {
				t.Fatal(err)
			}
			if b := tensorBytes(t, got); !reflect.DeepEqual(b, want) {
				t.Error("values changed")
			}
			for name, v := range allTensors(got.Proto) {
				if IsExternal(v.tp) && !tc.opt.ExternalData {
					t.Errorf("tensor %s is still external after an inline save", name)
				}
			}
			if !tc.inPlace {
				// The same bytes as a save straight from the in-memory model.
				// (The source has typed data converted to raw, so the reference
				// is that model, inlined.)
				inl := filepath.Join(t.TempDir(), "inl.onnx")
				if m, err = Load(src); err == nil {
					_, err = m.Save(inl, SaveOptions{})
				}
				if err != nil {
					t.Fatal(err)
				}
				ref := filepath.Join(t.TempDir(), "out.onnx")
				if m, err = Load(inl); err == nil {
					_, err = m.Save(ref, tc.opt)
				}
				if err != nil {
					t.Fatal(err)
				}
				a, _ := os.ReadFile(out)
				b, _ := os.ReadFile(ref)
				if !bytes.Equal(a, b) {
					t.Error("model bytes differ from a save of the same model held in memory")
				}
			}
		})
	}
}

func TestSaveTooLarge(t *testing.T) {
	dir := t.TempDir()
	const size = 2_200_000_000 // over 2 GiB - 1 once inline
	// A sparse file: no disk blocks are used.
	if err := os.Truncate(filepath.Join(dir, "huge.bin"), 0); err == nil {
		t.Fatal("unexpected file")
	}
	f, err := os.Create(filepath.Join(dir, "huge.bin"))
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Truncate(filepath.Join(dir, "huge.bin"), size); err != nil {
		t.Skipf("cannot make a sparse file: %v", err)
	}
	mp := testModel()
	mp.Graph.Initializer = append(mp.Graph.Initializer, &onnxpb.TensorProto{
		Name: ptr("huge"), DataType: ptr(int32(onnxpb.TensorProto_FLOAT)), Dims: []int64{size / 4},
		DataLocation: onnxpb.TensorProto_EXTERNAL.Enum(),
		ExternalData: externalEntries("huge.bin", 0, size),
	})
	src := writeProto(t, dir, "m.onnx", mp)
	m, err := Load(src)
	if err != nil {
		t.Fatal(err)
	}
	before := dirFiles(t, dir)
	outDir := t.TempDir()
	_, err = m.Save(filepath.Join(outDir, "out.onnx"), SaveOptions{})
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "save_as_external_data") {
		t.Fatalf("Save inline = %v, want ErrTooLarge suggesting save_as_external_data", err)
	}
	if got := dirFiles(t, outDir); len(got) != 0 {
		t.Errorf("output directory holds %v after a failed save", got)
	}
	if got := dirFiles(t, dir); !reflect.DeepEqual(got, before) {
		t.Errorf("source directory changed: %v", got)
	}
	// In place too.
	if _, err := m.Save(src, SaveOptions{}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Save inline in place = %v, want ErrTooLarge", err)
	}
	if got := dirFiles(t, dir); !reflect.DeepEqual(got, before) {
		t.Errorf("source directory changed: %v", got)
	}
	if !IsExternal(m.Proto.Graph.Initializer[len(m.Proto.Graph.Initializer)-1]) {
		t.Error("a failed save changed the model")
	}
}

func TestSaveErrorsLeaveNothing(t *testing.T) {
	outside := t.TempDir()
	tests := []struct {
		name    string
		opt     SaveOptions
		setup   func(t *testing.T, dir string)
		wantErr string
		// keep lists files (with contents) that exist before and must survive.
		keep map[string]string
	}{
		{name: "absolute location", opt: SaveOptions{ExternalData: true, AllTensorsToOneFile: true, Location: filepath.Join(outside, "x.data")}, wantErr: "is absolute"},
		{name: "location climbs out", opt: SaveOptions{ExternalData: true, AllTensorsToOneFile: true, Location: "../x.data"}, wantErr: "escapes"},
		{name: "location climbs out later", opt: SaveOptions{ExternalData: true, AllTensorsToOneFile: true, Location: "a/../../x.data"}, wantErr: "escapes"},
		{name: "location is a directory", opt: SaveOptions{ExternalData: true, AllTensorsToOneFile: true, Location: "a/"}, wantErr: "names a directory"},
		{name: "location is dot", opt: SaveOptions{ExternalData: true, AllTensorsToOneFile: true, Location: "."}, wantErr: "names a directory"},
		{name: "location is the model", opt: SaveOptions{ExternalData: true, AllTensorsToOneFile: true, Location: "M.onnx"}, wantErr: "model file itself"},
		{
			name: "location through a symlink that leads out",
			opt:  SaveOptions{ExternalData: true, AllTensorsToOneFile: true, Location: "link/new/x.data"},
			setup: func(t *testing.T, dir string) {
				if err := os.Symlink(outside, filepath.Join(dir, "link")); err != nil {
					t.Skip(err)
				}
			},
			wantErr: "through a symlink",
		},
		{
			name: "model rename fails after the data file was replaced",
			opt:  SaveOptions{ExternalData: true, AllTensorsToOneFile: true},
			setup: func(t *testing.T, dir string) {
				// A non-empty directory where the model goes: the last rename fails.
				os.MkdirAll(filepath.Join(dir, "m.onnx"), 0o755)
				os.WriteFile(filepath.Join(dir, "m.onnx", "x"), nil, 0o644)
				os.WriteFile(filepath.Join(dir, "m.onnx.data"), []byte("old data"), 0o644)
			},
			wantErr: "m.onnx: ",
			keep:    map[string]string{"m.onnx.data": "old data", "m.onnx/x": ""},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.setup != nil {
				tc.setup(t, dir)
			}
			before := dirFiles(t, dir)
			m := &Model{Proto: testModel()}
			_, err := m.Save(filepath.Join(dir, "m.onnx"), tc.opt)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Save = %v, want an error containing %q", err, tc.wantErr)
			}
			if got := dirFiles(t, dir); !reflect.DeepEqual(got, before) {
				t.Errorf("directory changed: %v, was %v", got, before)
			}
			if got := dirFiles(t, outside); len(got) != 0 {
				t.Errorf("wrote outside the directory: %v", got)
			}
			for name, content := range tc.keep {
				fi, err := os.Stat(filepath.Join(dir, name))
				if err != nil || fi.IsDir() {
					t.Errorf("%s: %v", name, err)
					continue
				}
				if b, _ := os.ReadFile(filepath.Join(dir, name)); string(b) != content {
					t.Errorf("%s = %q, want %q", name, b, content)
				}
			}
			if !reflect.DeepEqual(allTensors(m.Proto)["big"].tp.RawData, rawFloats("big", 1024).RawData) {
				t.Error("a failed save changed the model")
			}
			if _, err := os.Stat(filepath.Join(dir, "a")); err == nil {
				t.Error("a directory created for the data file is left behind")
			}
		})
	}
}

// TestSaveRefusesToOverwriteItsSource: an output model path that is one of the
// model's own external data files would destroy data still to be read.
func TestSaveRefusesToOverwriteItsSource(t *testing.T) {
	dir := t.TempDir()
	m := &Model{Proto: testModel()}
	if _, err := m.Save(filepath.Join(dir, "m.onnx"), SaveOptions{ExternalData: true, AllTensorsToOneFile: true, SizeThreshold: 1024}); err != nil {
		t.Fatal(err)
	}
	m, err := Load(filepath.Join(dir, "m.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Save(filepath.Join(dir, "m.onnx.data"), SaveOptions{})
	if err == nil || !strings.Contains(err.Error(), "external data file of tensor") {
		t.Fatalf("Save = %v, want a refusal", err)
	}
}

func TestSafeFileName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"conv1.weight", "conv1.weight"},
		{"a/b:c", "a_b_c"},
		{"..", "_."},
		{".hidden", "_hidden"},
		{"", "tensor"},
		{`x\y<z>|*?"`, "x_y_z_____"},
		{"poids_é", "poids___"},
		{strings.Repeat("a", 300), strings.Repeat("a", maxFileName)},
		{"con", "_con"},
		{"Nul.weight", "_Nul.weight"},
		{"com1", "_com1"},
		{"console", "console"},
	}
	for _, tc := range tests {
		if got := safeFileName(tc.in); got != tc.want {
			t.Errorf("safeFileName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestSaveFileNameCollisions: names that sanitize to the same file, or differ
// only in case, or match the model file, get deterministic suffixes.
func TestSaveFileNameCollisions(t *testing.T) {
	mp := testModel()
	mp.Graph.Initializer = []*onnxpb.TensorProto{
		rawFloats("a/b", 8), rawFloats("a:b", 8), rawFloats("A_b", 8), rawFloats("a_b_1", 8), rawFloats("M.ONNX", 8),
	}
	mp.Graph.Node = nil
	dir := t.TempDir()
	files, err := (&Model{Proto: mp}).Save(filepath.Join(dir, "m.onnx"), SaveOptions{ExternalData: true})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	want := []string{"m.onnx", "a_b", "a_b_1", "A_b_2", "a_b_1_1", "M.ONNX_1"}
	if !slices.Equal(names, want) {
		t.Errorf("files = %v, want %v", names, want)
	}
}

func TestSaveContextCanceled(t *testing.T) {
	for _, opt := range []SaveOptions{{}, {ExternalData: true, SizeThreshold: 0}} {
		dir := t.TempDir()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		m := &Model{Proto: testModel()}
		if _, err := m.SaveContext(ctx, filepath.Join(dir, "m.onnx"), opt); !errors.Is(err, context.Canceled) {
			t.Errorf("%+v: SaveContext = %v, want context.Canceled", opt, err)
		}
		if got := dirFiles(t, dir); len(got) != 0 {
			t.Errorf("%+v: left %v", opt, got)
		}
	}
}
