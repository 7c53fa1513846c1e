package model

import (
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
	// Sync flushes every file to disk (fsync) before it is renamed into place,
	// and the directories after, so that the output survives a power loss.
	// Without it a save still writes under temporary names and renames them
	// into place: a crash of the process never leaves a half-written output.
	Sync bool
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
		return nil, errors.New("no output path")
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
		return nil, fmt.Errorf("%s: %w", s.base, err)
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
	wb       *writeback // starts f's write-out while it is written
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
					err = fmt.Errorf("%s: it is the external data file of tensor %q; saving over it would destroy the data", s.base, v.tp.GetName())
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
		f.tmp, f.wb = f.f.Name(), s.writeback(f.f)
	}
	return nil
}

// writeData streams every external tensor into its data file.
func (s *saver) writeData() error {
	for _, it := range s.items {
		if it.act != external {
			continue
		}
		if err := s.ctx.Err(); err != nil {
			return err
		}
		ds := s.m.sourceOf(it.raw)
		if it.src != "" || it.gen != nil {
			ds = it.source()
		}
		if err := s.copyData(it.out.f, it.out.wb, ds, it.tp.GetName()); err != nil {
			return fmt.Errorf("%s: tensor %q: %w", filepath.Base(it.out.final), it.tp.GetName(), err)
		}
	}
	for _, f := range s.files {
		if err := s.closeSynced(f.f); err != nil {
			return fmt.Errorf("%s: %w", filepath.Base(f.final), err)
		}
		f.f = nil
	}
	return nil
}

// closeSynced closes f, flushing it to disk first under SaveOptions.Sync, so
// that a rename never exposes a file whose contents are not durable.
func (s *saver) closeSynced(f *os.File) error {
	if !s.opt.Sync {
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
			return err
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
		return err
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
	s.model.f, s.model.tmp, s.model.wb = f, f.Name(), s.writeback(f)
	if err := s.streamModel(f, readLater); err != nil {
		return err
	}
	if err := s.closeSynced(f); err != nil {
		return fmt.Errorf("%s: %w", s.base, err)
	}
	s.model.f = nil
	return nil
}

// commit renames the temporary files into place, data files first and the
// model last. A file that gets replaced is first hard-linked to a backup name,
// so that a failed rename can put back what was there.
func (s *saver) commit() error {
	if err := s.ctx.Err(); err != nil {
		return err
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
			return fmt.Errorf("%s: %w", filepath.Base(f.final), err)
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
	if !s.opt.Sync {
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
