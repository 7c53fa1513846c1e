package model

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// SaveOptions says how Save lays the model out on disk; the fields are the
// reference tool's save flags (onnx.save_model with save_as_external_data).
type SaveOptions struct {
	// ExternalData moves the data of large initializers to files beside the model.
	ExternalData bool
	// AllTensorsToOneFile puts all external data in one file (Location);
	// otherwise each tensor gets a file named after it.
	AllTensorsToOneFile bool
	// Location is the external data file name, relative to the output model's
	// directory; it may name a subdirectory but never leave that directory.
	// Empty means "<model file name>.data". Used only with AllTensorsToOneFile.
	Location string
	// SizeThreshold: initializers with at least this many bytes of data go to
	// external data; smaller ones stay inline.
	SizeThreshold int64
}

// MaxInlineSize is protobuf's limit on one serialized message: 2 GiB - 1.
const MaxInlineSize = 1<<31 - 1

// Save writes the model to path and returns the files written, the model first.
//
// With opt.ExternalData, initializers (of the main graph and of subgraphs) with
// at least opt.SizeThreshold bytes go to external data files; tensors held in
// attributes (a Constant's value) stay inline. Tensors with typed data are
// converted to raw bytes on the way out. Data already external is streamed from
// its source file, never held in memory whole. Without opt.ExternalData every
// tensor is inlined, and a result over 2 GB fails with ErrTooLarge before
// anything is written.
//
// Every file is written to a temporary name in its destination directory, then
// renamed into place, data files first and the model last; on failure the
// temporary files are removed and files that were replaced are put back. The
// output is deterministic: the same model and options give the same bytes.
// Saving onto the model's own files (in place) works.
//
// After an external data save, m refers to the files just written (as
// onnx.save_model leaves its model); after an inline save m is unchanged. Save
// changes m's tensors while it runs, so nothing may read m concurrently.
func (m *Model) Save(path string, opt SaveOptions) (files []string, err error) {
	return m.SaveContext(context.Background(), path, opt)
}

// SaveContext is Save, abandoned (with everything it wrote removed) when ctx
// is done. It checks ctx between tensors, so a cancel takes effect after at
// most one tensor's copy.
func (m *Model) SaveContext(ctx context.Context, path string, opt SaveOptions) (files []string, err error) {
	if path == "" {
		return nil, errors.New("save: no output path")
	}
	s := &saver{ctx: ctx, m: m, opt: opt, path: path, dir: filepath.Dir(path), base: filepath.Base(path)}
	defer s.closeSources()
	defer func() {
		if p := recover(); p != nil {
			// A fault reading a mapped file (see pipeline.Run): nothing of
			// this save may stay behind.
			s.cleanup()
			panic(p)
		}
		if err != nil {
			s.cleanup()
		}
	}()
	if err := s.plan(); err != nil {
		return nil, err
	}
	if err := s.checkSize(); err != nil {
		return nil, err
	}
	if err := s.layout(); err != nil {
		return nil, err
	}
	// Every byte to write is known now: claim them before writing any.
	need := s.modelSize
	for _, f := range s.files {
		need += f.size
	}
	if err := m.reserve(need); err != nil {
		return nil, fmt.Errorf("save %s: %w", s.base, err)
	}
	if err := s.writeData(); err != nil {
		return nil, err
	}
	if err := s.writeModel(); err != nil {
		return nil, err
	}
	if err := s.commit(); err != nil {
		return nil, err
	}
	if opt.ExternalData {
		s.mutated = nil // keep: m now describes the files just written
		m.Dir = s.dir
	} else {
		s.restore()
	}
	files = []string{path}
	for _, f := range s.files {
		files = append(files, f.final)
	}
	return files, nil
}

// action is what Save does with one tensor.
type action int

const (
	keep     action = iota // written as it is
	inline                 // external in the source, inline in the output
	external               // written to an external data file
)

// item is the plan for one tensor.
type item struct {
	tp  *onnxpb.TensorProto
	act action
	// raw holds the bytes of a tensor that is inline in the source (its
	// raw_data, or its typed data converted).
	raw []byte
	// src, srcOff and size locate a tensor that is external in the source;
	// gen produces the size bytes of one whose data is deferred (WriteData).
	src    string
	srcOff int64
	size   int64
	gen    func(io.Writer) error
	// out and offset place an external tensor in the output.
	out    *outFile
	offset int64
}

// source is where an item that is external in the model comes from.
func (it *item) source() dataSource {
	return dataSource{path: it.src, off: it.srcOff, n: it.size, gen: it.gen}
}

// outFile is one file that Save writes.
type outFile struct {
	final    string // destination path
	location string // as written in external_data entries (slash-separated)
	tmp      string // temporary file being written, until renamed
	backup   string // hard link to the file that final replaced, until success
	f        *os.File
	size     int64
}

// saved holds a tensor's fields as they were before Save changed them.
type saved struct {
	tp      *onnxpb.TensorProto
	raw     []byte
	floats  []float32
	int32s  []int32
	int64s  []int64
	doubles []float64
	uint64s []uint64
	ext     []*onnxpb.StringStringEntryProto
	loc     *onnxpb.TensorProto_DataLocation
}

type saver struct {
	ctx        context.Context
	m          *Model
	opt        SaveOptions
	path       string
	dir, base  string
	items      []*item
	files      []*outFile // data files in order of first use
	model      outFile
	createdDir []string
	mutated    []saved
	modelSize  int64               // the model file's size as checkSize estimates it
	srcFiles   map[string]*os.File // source files open for copying, by path
}

// plan decides what happens to each tensor, reading no external data.
func (s *saver) plan() error {
	var err error
	outStat, _ := os.Stat(s.path)
	walkTensors(s.m.Proto, func(v tensorVisit) {
		if err != nil {
			return
		}
		it := &item{tp: v.tp}
		if IsExternal(v.tp) {
			if v.tp.GetDataType() == int32(tensor.String) {
				err = fmt.Errorf("%w: tensor %q: string tensors cannot have external data", ErrInvalid, v.tp.GetName())
				return
			}
			if d, ok := s.m.deferredOf(v.tp); ok {
				// Computed by a step, not written yet: written from its
				// producer straight into the output.
				it.gen, it.size = d.write, d.n
			} else if it.src, it.srcOff, it.size, err = s.m.externalSection(v.tp); err != nil {
				return
			}
			if outStat != nil && it.src != "" {
				if st, e := os.Stat(it.src); e == nil && os.SameFile(st, outStat) {
					err = fmt.Errorf("save %s: it is the external data file of tensor %q; saving over it would destroy the data", s.base, v.tp.GetName())
					return
				}
			}
			it.act = inline
		}
		d := tensor.DType(v.tp.GetDataType())
		if s.opt.ExternalData && v.initializer && d.Known() && d != tensor.String {
			if it.act != inline {
				if it.raw, err = tensor.RawData(v.tp); err != nil {
					err = fmt.Errorf("%w: %v", ErrInvalid, err)
					return
				}
				it.size = int64(len(it.raw))
			}
			if it.size >= s.opt.SizeThreshold {
				it.act = external
			}
		}
		if it.act != keep {
			s.items = append(s.items, it)
		}
	})
	return err
}

// checkSize fails with ErrTooLarge when the model file would pass protobuf's
// 2 GB limit, estimated from the sizes of the messages and the data to inline,
// without reading that data.
func (s *saver) checkSize() error {
	total := int64(proto.Size(s.m.Proto))
	// Entries of maximal width: an upper bound on the ones an external tensor gets.
	extSize := int64(proto.Size(&onnxpb.TensorProto{
		ExternalData: externalEntries(strings.Repeat("x", 4096), 1<<62, 1<<62),
		DataLocation: onnxpb.TensorProto_EXTERNAL.Enum()}))
	for _, it := range s.items {
		switch it.act {
		case inline:
			total += 1 + int64(protowire.SizeBytes(int(it.size))) - externalFieldsSize(it.tp)
		case external:
			total += extSize - dataFieldsSize(it.tp) - externalFieldsSize(it.tp)
		}
	}
	s.modelSize = total
	if total <= MaxInlineSize {
		return nil
	}
	if s.opt.ExternalData {
		return fmt.Errorf("%w: the model file would be about %d bytes, over protobuf's 2 GB limit: lower external_data_size_threshold", ErrTooLarge, total)
	}
	return fmt.Errorf("%w: the model would be about %d bytes, over protobuf's 2 GB limit: save it with save_as_external_data", ErrTooLarge, total)
}

// externalFieldsSize is the encoded size of tp's external_data and
// data_location fields.
func externalFieldsSize(tp *onnxpb.TensorProto) int64 {
	return int64(proto.Size(&onnxpb.TensorProto{ExternalData: tp.ExternalData, DataLocation: tp.DataLocation}))
}

// dataFieldsSize is the encoded size of tp's inline data fields (raw or typed),
// which an external save drops.
func dataFieldsSize(tp *onnxpb.TensorProto) int64 {
	return int64(proto.Size(&onnxpb.TensorProto{RawData: tp.RawData, FloatData: tp.FloatData,
		Int32Data: tp.Int32Data, Int64Data: tp.Int64Data, DoubleData: tp.DoubleData, Uint64Data: tp.Uint64Data}))
}

// layout assigns each external tensor a file and an offset, and creates the
// temporary files in their destination directories.
func (s *saver) layout() error {
	if !s.opt.ExternalData {
		return nil
	}
	byName := map[string]*outFile{}
	var one *outFile
	if s.opt.AllTensorsToOneFile {
		loc := s.opt.Location
		if loc == "" {
			loc = s.base + ".data"
		}
		clean, err := checkOutputLocation(loc, s.base)
		if err != nil {
			return err
		}
		one = &outFile{final: filepath.Join(s.dir, clean), location: filepath.ToSlash(clean)}
	}
	used := map[string]bool{strings.ToLower(s.base): true}
	for _, it := range s.items {
		if it.act != external {
			continue
		}
		f := one
		if f == nil {
			name := uniqueName(safeFileName(it.tp.GetName()), used)
			f = &outFile{final: filepath.Join(s.dir, name), location: name}
		}
		if byName[f.final] == nil {
			byName[f.final] = f
			s.files = append(s.files, f)
		}
		it.out, it.offset = f, f.size
		f.size += it.size
	}
	for _, f := range s.files {
		if err := s.mkdirFor(f.final); err != nil {
			return err
		}
		var err error
		if f.f, err = createTemp(f.final); err != nil {
			return err
		}
		f.tmp = f.f.Name()
	}
	return nil
}

// checkOutputLocation validates an external data location for the output: a
// relative path that stays inside the model's directory and is not the model
// file itself. It returns the cleaned, OS-specific path.
func checkOutputLocation(loc, modelBase string) (string, error) {
	bad := func(why string) error {
		return fmt.Errorf("external data location %q %s", loc, why)
	}
	if filepath.IsAbs(loc) || strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, `\`) || filepath.VolumeName(loc) != "" {
		return "", bad("is absolute; it must be relative to the output model's directory")
	}
	if strings.ContainsRune(loc, 0) {
		return "", bad("contains a NUL byte")
	}
	if strings.HasSuffix(loc, "/") || strings.HasSuffix(loc, `\`) {
		return "", bad("names a directory, not a file")
	}
	clean := filepath.Clean(filepath.FromSlash(loc))
	if clean == "." {
		return "", bad("names a directory, not a file")
	}
	if clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
		return "", bad("escapes the output model's directory")
	}
	if strings.EqualFold(clean, modelBase) {
		return "", bad("is the model file itself")
	}
	return clean, nil
}

// mkdirFor creates the directories above a data file that do not exist yet
// (recording them, to remove them on failure), and checks that the file's
// directory does not lead out of the model's directory through a symlink.
func (s *saver) mkdirFor(file string) error {
	d := filepath.Dir(file)
	var missing []string
	for p := d; p != s.dir && p != "." && p != string(filepath.Separator); p = filepath.Dir(p) {
		if _, err := os.Lstat(p); err == nil {
			break
		}
		missing = append(missing, p)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := os.Mkdir(missing[i], 0o755); err != nil {
			return fmt.Errorf("save: create directory for external data: %w", err)
		}
		s.createdDir = append(s.createdDir, missing[i])
	}
	realDir, err := filepath.EvalSymlinks(s.dir)
	if err != nil {
		return fmt.Errorf("save: %w", err)
	}
	realD, err := filepath.EvalSymlinks(d)
	if err != nil {
		return fmt.Errorf("save: %w", err)
	}
	if rel, err := filepath.Rel(realDir, realD); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		rl, _ := filepath.Rel(s.dir, file)
		return fmt.Errorf("external data location %q leads out of the output model's directory through a symlink", filepath.ToSlash(rl))
	}
	return nil
}

// maxFileName bounds the names made from tensor names; file systems allow 255 bytes.
const maxFileName = 200

// safeFileName turns a tensor name into a file name that is safe on every
// common file system: ASCII letters, digits, '.', '_' and '-' only, never
// hidden, never empty. (onnx falls back to a random uuid for unsafe names; we
// want reproducible output.)
func safeFileName(name string) string {
	b := []byte(name)
	for i, c := range b {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' && i > 0
		if !ok {
			b[i] = '_'
		}
	}
	if len(b) > maxFileName {
		b = b[:maxFileName]
	}
	if len(b) == 0 {
		return "tensor"
	}
	stem, _, _ := strings.Cut(string(b), ".")
	if windowsReserved[strings.ToUpper(stem)] {
		return "_" + string(b)
	}
	return string(b)
}

// windowsReserved are device names that Windows refuses as file names, with
// any extension: data files may be copied there.
var windowsReserved = map[string]bool{
	"CON": true, "PRN": true, "AUX": true, "NUL": true,
	"COM1": true, "COM2": true, "COM3": true, "COM4": true, "COM5": true, "COM6": true, "COM7": true, "COM8": true, "COM9": true,
	"LPT1": true, "LPT2": true, "LPT3": true, "LPT4": true, "LPT5": true, "LPT6": true, "LPT7": true, "LPT8": true, "LPT9": true,
}

// uniqueName returns name, or name with the first free suffix "_1", "_2", ...
// when a file of that name (compared case-insensitively, for file systems that
// fold case) is taken; it marks the result taken.
func uniqueName(name string, used map[string]bool) string {
	n := name
	for i := 1; used[strings.ToLower(n)]; i++ {
		n = name + "_" + strconv.Itoa(i)
	}
	used[strings.ToLower(n)] = true
	return n
}

// createTemp creates a temporary file beside final, readable by all like a
// file from os.Create (CreateTemp's files are private).
func createTemp(final string) (*os.File, error) {
	f, err := os.CreateTemp(filepath.Dir(final), "."+filepath.Base(final)+".tmp*")
	if err == nil {
		if err = f.Chmod(0o644); err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}
	if err != nil {
		return nil, fmt.Errorf("save %s: %w", filepath.Base(final), err)
	}
	return f, nil
}

// writeData streams every external tensor into its data file.
func (s *saver) writeData() error {
	for _, it := range s.items {
		if it.act != external {
			continue
		}
		if err := s.ctx.Err(); err != nil {
			return fmt.Errorf("save: %w", err)
		}
		ds := s.m.sourceOf(it.raw)
		if it.src != "" || it.gen != nil {
			ds = it.source()
		}
		if err := s.copyData(it.out.f, ds, it.tp.GetName()); err != nil {
			return fmt.Errorf("save %s: tensor %q: %w", filepath.Base(it.out.final), it.tp.GetName(), err)
		}
	}
	for _, f := range s.files {
		if err := s.closeSynced(f.f); err != nil {
			return fmt.Errorf("save %s: %w", filepath.Base(f.final), err)
		}
		f.f = nil
	}
	return nil
}

// closeSynced flushes f to disk and closes it, so that a rename never exposes
// a file whose contents are not durable; a scratch output is only closed.
func (s *saver) closeSynced(f *os.File) error {
	if isScratch(s.ctx) {
		return f.Close()
	}
	err := syncFile(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// externalEntries builds external_data entries in onnx's order.
func externalEntries(location string, offset, length int64) []*onnxpb.StringStringEntryProto {
	kv := func(k, v string) *onnxpb.StringStringEntryProto {
		return &onnxpb.StringStringEntryProto{Key: &k, Value: &v}
	}
	return []*onnxpb.StringStringEntryProto{
		kv("location", location),
		kv("offset", strconv.FormatInt(offset, 10)),
		kv("length", strconv.FormatInt(length, 10)),
	}
}

// writeModel points the tensors at their new homes, serializes the model and
// writes it to its temporary file. The main graph's initializers are
// serialized one at a time, and those that come inline from external data (or
// from spilled tensors) are read only when their turn comes: the model is never
// whole in memory a second time.
func (s *saver) writeModel() error {
	var lazy map[*onnxpb.TensorProto]bool
	if g := s.m.Proto.GetGraph(); g != nil {
		lazy = map[*onnxpb.TensorProto]bool{}
		for _, tp := range g.GetInitializer() {
			lazy[tp] = true
		}
	}
	for _, it := range s.items {
		if err := s.ctx.Err(); err != nil {
			return fmt.Errorf("save: %w", err)
		}
		tp := it.tp
		s.mutated = append(s.mutated, saved{tp: tp, raw: tp.RawData, floats: tp.FloatData, int32s: tp.Int32Data,
			int64s: tp.Int64Data, doubles: tp.DoubleData, uint64s: tp.Uint64Data, ext: tp.ExternalData, loc: tp.DataLocation})
		switch it.act {
		case inline:
			if lazy[tp] {
				// Read in streamModel; the size is known from the plan.
				continue
			}
			raw, err := s.m.ExternalBytes(tp)
			if err != nil {
				return err
			}
			tp.RawData, tp.ExternalData, tp.DataLocation = raw, nil, nil
		case external:
			tp.RawData, tp.FloatData, tp.Int32Data, tp.Int64Data, tp.DoubleData, tp.Uint64Data = nil, nil, nil, nil, nil, nil
			tp.ExternalData = externalEntries(it.out.location, it.offset, it.size)
			tp.DataLocation = onnxpb.TensorProto_EXTERNAL.Enum()
		}
	}
	if err := s.ctx.Err(); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	readLater := map[*onnxpb.TensorProto]*item{}
	for _, it := range s.items {
		if it.act == inline && lazy[it.tp] {
			readLater[it.tp] = it
		}
	}
	s.model.final = s.path
	f, err := createTemp(s.path)
	if err != nil {
		return err
	}
	s.model.f, s.model.tmp = f, f.Name()
	if err := s.streamModel(f, readLater); err != nil {
		return err
	}
	if err := s.closeSynced(f); err != nil {
		return fmt.Errorf("save %s: %w", s.base, err)
	}
	s.model.f = nil
	return nil
}

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
			return fmt.Errorf("save %s: %w", s.base, err)
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
			return fmt.Errorf("save: %w", err)
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
				return fmt.Errorf("save %s: tensor %q serialized to %d bytes, %d expected (a bug)", s.base, tp.GetName(), got, sizes[i])
			}
			if err := put(hb); err != nil {
				return err
			}
			if err := put(hdr); err != nil {
				return err
			}
			if err := w.Flush(); err != nil {
				return fmt.Errorf("save %s: %w", s.base, err)
			}
			if err := s.copyData(f, ds, tp.GetName()); err != nil {
				return fmt.Errorf("save %s: tensor %q: %w", s.base, tp.GetName(), err)
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
			return fmt.Errorf("save %s: tensor %q serialized to %d bytes, %d expected (a bug)", s.base, tp.GetName(), len(b), sizes[i])
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
		return fmt.Errorf("save %s: %w", s.base, err)
	}
	if written != total {
		return fmt.Errorf("save %s: wrote %d bytes, %d expected (a bug)", s.base, written, total)
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

// commit renames the temporary files into place, data files first and the
// model last. A file that gets replaced is first hard-linked to a backup name,
// so that a failed rename can put back what was there.
func (s *saver) commit() error {
	if err := s.ctx.Err(); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	all := append(append([]*outFile{}, s.files...), &s.model)
	for i, f := range all {
		if _, err := os.Lstat(f.final); err == nil {
			if b, err := createTemp(f.final + ".bak"); err == nil {
				b.Close()
				os.Remove(b.Name())
				if os.Link(f.final, b.Name()) == nil {
					f.backup = b.Name()
				}
			}
		}
		if err := os.Rename(f.tmp, f.final); err != nil {
			for j := i - 1; j >= 0; j-- {
				g := all[j]
				if g.backup != "" {
					// Should even this rename fail, the backup is the only copy
					// of the old file: it stays.
					os.Rename(g.backup, g.final)
					g.backup = ""
				} else {
					os.Remove(g.final)
				}
			}
			return fmt.Errorf("save %s: %w", filepath.Base(f.final), err)
		}
		f.tmp = ""
	}
	for _, f := range all {
		if f.backup != "" {
			os.Remove(f.backup)
			f.backup = ""
		}
	}
	// Make the renames durable; a failure here changes nothing already done.
	if isScratch(s.ctx) {
		return nil
	}
	dirs := map[string]bool{}
	for _, f := range all {
		dirs[filepath.Dir(f.final)] = true
	}
	for d := range dirs {
		if df, err := os.Open(d); err == nil {
			df.Sync()
			df.Close()
		}
	}
	return nil
}

// restore puts back the tensor fields that writeModel changed.
func (s *saver) restore() {
	for i := len(s.mutated) - 1; i >= 0; i-- {
		o := s.mutated[i]
		tp := o.tp
		tp.RawData, tp.FloatData, tp.Int32Data, tp.Int64Data, tp.DoubleData, tp.Uint64Data = o.raw, o.floats, o.int32s, o.int64s, o.doubles, o.uint64s
		tp.ExternalData, tp.DataLocation = o.ext, o.loc
	}
	s.mutated = nil
}

// cleanup undoes a failed save: the model is restored and every temporary
// file, backup and directory that Save created is removed.
func (s *saver) cleanup() {
	s.restore()
	for _, f := range append(append([]*outFile{}, s.files...), &s.model) {
		if f.f != nil {
			f.f.Close()
		}
		if f.tmp != "" {
			os.Remove(f.tmp)
		}
		if f.backup != "" {
			os.Remove(f.backup)
		}
	}
	for i := len(s.createdDir) - 1; i >= 0; i-- {
		os.Remove(s.createdDir[i])
	}
}
