// Package model loads and saves ONNX models, resolves their external data, and
// offers the graph queries that the pipeline's steps share.
package model

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"

	"google.golang.org/protobuf/proto"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// Model is a loaded ONNX model. External data stays on disk until a step needs
// the values of a tensor.
type Model struct {
	Proto *onnxpb.ModelProto
	// Dir is the directory that external data locations resolve against; empty
	// when the model came from bytes with no directory, in which case a model
	// with external data cannot be read.
	Dir string

	spill  *spillState
	budget DiskBudget // see SetDiskBudget

	// sources are the model files Load mapped, and views places the tensors
	// whose RawData is still in them (keyed by the first byte). Both live
	// until Close.
	sources []*source
	views   map[*byte]view
}

// Load reads the model file at path.
//
// Where the platform allows it the file is mapped, not read: every raw_data
// of at least 4 KiB stays in the mapping (the tensor's RawData is a slice of
// it, read-only in spirit: nothing may write into it), so loading costs the
// model's structure, not its weights, and Save copies those weights from file
// to file. The mapping lives until Close, which every caller of Load must
// call once it no longer reads the model's tensors. The file must not be
// truncated or rewritten while the model is open (see mapFile).
func Load(path string) (*Model, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load model: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("load model: %w", err)
	}
	if st.Mode().IsRegular() && st.Size() >= viewMin {
		if data, unmap, err := mapFile(f, st.Size()); err == nil {
			mp, offs, err := decodeViews(data)
			if err == nil {
				m, err := checkModel(mp, filepath.Dir(path))
				if err != nil {
					unmap()
					f.Close()
					return nil, fmt.Errorf("%s: %w", filepath.Base(path), err)
				}
				src := &source{f: f, data: data, unmap: unmap}
				m.sources = []*source{src}
				m.views = make(map[*byte]view, len(offs))
				for p, v := range offs {
					v.src = src
					m.views[p] = v
				}
				return m, nil
			}
			// Nothing to leave in place, or bytes the skeleton could not
			// parse: the plain decoder below gives the model or its error.
			unmap()
		}
	}
	b, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("load model: %w", err)
	}
	m, err := LoadBytes(b, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	// The file's bytes were live beside their decoded copy until now, so the
	// garbage collector's goal is twice the model's size again: collected
	// here (cheap, the weights hold no pointers), a model saved inline peaks at
	// about two times its size, not four.
	b = nil
	runtime.GC()
	return m, nil
}

// LoadBytes parses a serialized ModelProto; dir is where its external data lives.
func LoadBytes(b []byte, dir string) (*Model, error) {
	if err := checkNodeCount(b); err != nil {
		return nil, err
	}
	mp := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(b, mp); err != nil {
		return nil, fmt.Errorf("%w: not an ONNX model: %v", ErrInvalid, err)
	}
	return checkModel(mp, dir)
}

// checkModel wraps a decoded ModelProto, refusing one that is not a model.
func checkModel(mp *onnxpb.ModelProto, dir string) (*Model, error) {
	if mp.GetGraph() == nil {
		return nil, fmt.Errorf("%w: not an ONNX model: no graph", ErrInvalid)
	}
	if mp.GetIrVersion() <= 0 {
		return nil, fmt.Errorf("%w: not an ONNX model: ir_version missing", ErrInvalid)
	}
	return &Model{Proto: mp, Dir: dir}, nil
}

// Graph is the model's main graph.
func (m *Model) Graph() *onnxpb.GraphProto { return m.Proto.GetGraph() }

// Opset returns the version at which the model's nodes of domain are read
// ("" and "ai.onnx" are the same domain): the imported version or, if the
// model does not import the domain, the newest one (see OpsetVersion).
func (m *Model) Opset(domain string) int64 {
	domain = NormDomain(domain)
	for _, o := range m.Proto.GetOpsetImport() {
		if NormDomain(o.GetDomain()) == domain {
			return OpsetVersion(domain, o.GetVersion())
		}
	}
	return OpsetVersion(domain, 0)
}

// Tensor decodes tp, reading its external data if it has any.
func (m *Model) Tensor(tp *onnxpb.TensorProto) (*tensor.Tensor, error) {
	var ext []byte
	if IsExternal(tp) {
		var err error
		if ext, err = m.ExternalBytes(tp); err != nil {
			return nil, err
		}
	}
	return tensor.Decode(tp, ext)
}

// IsExternal reports whether tp's data is in an external file.
func IsExternal(tp *onnxpb.TensorProto) bool {
	return tp.GetDataLocation() == onnxpb.TensorProto_EXTERNAL
}

// NodeCount counts the nodes of the main graph.
func (m *Model) NodeCount() int { return len(m.Graph().GetNode()) }
