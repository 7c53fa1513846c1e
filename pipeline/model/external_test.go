package model

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
)

// extTensor is a float tensor named "w" whose external_data holds the given
// key/value pairs, in order.
func extTensor(kv ...string) *onnxpb.TensorProto {
	tp := &onnxpb.TensorProto{Name: ptr("w"), DataType: ptr(int32(onnxpb.TensorProto_UINT8)),
		DataLocation: onnxpb.TensorProto_EXTERNAL.Enum()}
	for i := 0; i+1 < len(kv); i += 2 {
		tp.ExternalData = append(tp.ExternalData, &onnxpb.StringStringEntryProto{Key: ptr(kv[i]), Value: ptr(kv[i+1])})
	}
	return tp
}

func TestExternalBytes(t *testing.T) {
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret.bin"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	data := make([]byte, 100)
	for i := range data {
		data[i] = byte(i)
	}
	os.WriteFile(filepath.Join(dir, "data.bin"), data, 0o644)
	os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
	os.MkdirAll(filepath.Join(dir, "adir"), 0o755)
	os.WriteFile(filepath.Join(dir, "sub", "data.bin"), data[:10], 0o644)
	symlinks := true
	for name, target := range map[string]string{
		"in.bin":  "data.bin",                           // stays inside: fine
		"out.bin": filepath.Join(outside, "secret.bin"), // a file outside
		"outdir":  outside,                              // a directory outside
		"rel.bin": filepath.Join("..", filepath.Base(outside), "secret.bin"),
	} {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			symlinks = false
		}
	}

	tests := []struct {
		name    string
		kv      []string
		dir     string // model directory; dir above when empty
		symlink bool
		want    []byte
		wantErr string // substring; every failure must also name the tensor and wrap ErrInvalid
	}{
		{name: "whole file", kv: []string{"location", "data.bin"}, want: data},
		{name: "range", kv: []string{"location", "data.bin", "offset", "10", "length", "5"}, want: data[10:15]},
		{name: "offset only runs to the end", kv: []string{"location", "data.bin", "offset", "95"}, want: data[95:]},
		{name: "empty range at the end", kv: []string{"location", "data.bin", "offset", "100", "length", "0"}, want: []byte{}},
		{name: "subdirectory", kv: []string{"location", "sub/data.bin"}, want: data[:10]},
		{name: "dot prefix", kv: []string{"location", "./data.bin"}, want: data},
		{name: "dotdot that stays inside", kv: []string{"location", "sub/../data.bin"}, want: data},
		{name: "unknown keys ignored", kv: []string{"checksum", "abc", "location", "data.bin", "length", "1"}, want: data[:1]},
		{name: "symlink inside", kv: []string{"location", "in.bin"}, symlink: true, want: data},

		{name: "absolute", kv: []string{"location", filepath.Join(dir, "data.bin")}, wantErr: "is absolute"},
		{name: "backslash absolute", kv: []string{"location", `\data.bin`}, wantErr: "is absolute"},
		{name: "dotdot", kv: []string{"location", ".."}, wantErr: "escapes"},
		{name: "dotdot file", kv: []string{"location", "../secret.bin"}, wantErr: "escapes"},
		{name: "dotdot later", kv: []string{"location", "sub/../../secret.bin"}, wantErr: "escapes"},
		{name: "symlink to a file outside", kv: []string{"location", "out.bin"}, symlink: true, wantErr: "through a symlink"},
		{name: "relative symlink outside", kv: []string{"location", "rel.bin"}, symlink: true, wantErr: "through a symlink"},
		{name: "through a directory symlink", kv: []string{"location", "outdir/secret.bin"}, symlink: true, wantErr: "through a symlink"},
		{name: "NUL byte", kv: []string{"location", "data.bin\x00"}, wantErr: "NUL"},
		{name: "missing file", kv: []string{"location", "nope.bin"}, wantErr: "not found"},
		{name: "directory", kv: []string{"location", "adir"}, wantErr: "not a regular file"},
		{name: "no location", kv: []string{"offset", "0"}, wantErr: "without a location"},
		{name: "empty location", kv: []string{"location", ""}, wantErr: "without a location"},
		{name: "offset past the end", kv: []string{"location", "data.bin", "offset", "101"}, wantErr: "past the end"},
		{name: "length past the end", kv: []string{"location", "data.bin", "offset", "90", "length", "11"}, wantErr: "past the end"},
		{name: "huge length", kv: []string{"location", "data.bin", "offset", "1", "length", "9223372036854775807"}, wantErr: "past the end"},
		{name: "offset not a number", kv: []string{"location", "data.bin", "offset", "ten"}, wantErr: `offset "ten"`},
		{name: "offset in exponent form", kv: []string{"location", "data.bin", "offset", "1e3"}, wantErr: `offset "1e3"`},
		{name: "offset overflows", kv: []string{"location", "data.bin", "offset", "99999999999999999999"}, wantErr: "offset"},
		{name: "negative offset", kv: []string{"location", "data.bin", "offset", "-1"}, wantErr: "negative"},
		{name: "negative length", kv: []string{"location", "data.bin", "length", "-2"}, wantErr: "negative"},
		{name: "length not a number", kv: []string{"location", "data.bin", "length", "5 "}, wantErr: `length "5 "`},
		{name: "model without a directory", kv: []string{"location", "data.bin"}, dir: "-", wantErr: "without its directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.symlink && !symlinks {
				t.Skip("no symlinks here")
			}
			d := dir
			if tc.dir == "-" {
				d = ""
			}
			m := &Model{Dir: d}
			got, err := m.ExternalBytes(extTensor(tc.kv...))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != string(tc.want) {
					t.Errorf("got %v, want %v", got, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("got %d bytes, want an error containing %q", len(got), tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), `tensor "w"`) {
				t.Errorf("error %q: want it to contain %q and name tensor \"w\"", err, tc.wantErr)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %q does not wrap ErrInvalid", err)
			}
		})
	}
}

// TestLoadIsLazy: Load reads no external data, so a model whose data file is
// missing loads, and the error comes when a step asks for the values.
func TestLoadIsLazy(t *testing.T) {
	dir := t.TempDir()
	mp := testModel()
	mp.Graph.Initializer[0] = extTensor("location", "gone.bin")
	p := writeProto(t, dir, "m.onnx", mp)
	m, err := Load(p)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if m.Dir != dir {
		t.Errorf("Dir = %q, want %q", m.Dir, dir)
	}
	if _, err := m.Tensor(m.Graph().GetInitializer()[0]); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "not found") {
		t.Errorf("Tensor = %v, want a not-found error", err)
	}
	// The same through LoadBytes with the directory given.
	b, _ := os.ReadFile(p)
	if m, err = LoadBytes(b, dir); err != nil || m.Dir != dir {
		t.Fatalf("LoadBytes: %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	noGraph := writeProto(t, dir, "nograph.onnx", &onnxpb.ModelProto{IrVersion: ptr(int64(8))})
	noIR := writeProto(t, dir, "noir.onnx", &onnxpb.ModelProto{Graph: &onnxpb.GraphProto{}})
	os.WriteFile(filepath.Join(dir, "junk.onnx"), []byte("\xff\xff\xff not protobuf"), 0o644)
	tests := []struct {
		path, wantErr string
		invalid       bool
	}{
		{noGraph, "no graph", true},
		{noIR, "ir_version missing", true},
		{filepath.Join(dir, "junk.onnx"), "not an ONNX model", true},
		{filepath.Join(dir, "missing.onnx"), "no such file", false},
	}
	for _, tc := range tests {
		_, err := Load(tc.path)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) || errors.Is(err, ErrInvalid) != tc.invalid {
			t.Errorf("Load(%s) = %v, want %q (invalid %v)", filepath.Base(tc.path), err, tc.wantErr, tc.invalid)
		}
	}
}
