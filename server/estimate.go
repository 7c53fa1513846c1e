package server

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/client"
	"github.com/quantprep/quantprep/pipeline"
)

// Memory that a decoded model costs beyond its bytes: each message and each
// string of it is a Go value of its own. Measured on a model of 2 M empty
// nodes (4 MB on the wire, about 700 MB decoded), with room to spare.
const (
	bytesPerValue = 320
	runAllowance  = 64 << 20
)

// estimateMemory is the memory that a pipeline run with options o is
// assumed to need for a model file of modelBytes holding values messages and
// strings, with externalBytes of external data: the model's bytes about twice
// (the loader's peak, a model saved inline), each decoded value, a quarter of
// the external data (read lazily, one tensor at a time, folded weights
// spilled to disk), a fixed allowance for the run itself, and what the
// request's effective budgets let one step allocate at once: one sparse
// initializer made dense, and one fold's working set when the optimizer runs.
// It is a rough, generous figure; the pipeline's budgets bound what a model
// may make it allocate beyond it, so a request that lowers them is admitted
// sooner.
func estimateMemory(modelBytes, values, externalBytes int64, o pipeline.Options) int64 {
	b := o.Budgets.WithDefaults()
	e := runAllowance + 2*modelBytes + bytesPerValue*values + externalBytes/4 + b.MaxDenseBytes
	if !o.SkipOptimization {
		e += b.MaxFoldBytes
	}
	return e
}

// countValues counts the messages and strings of the ModelProto in the file
// at p from its wire format, skipping every other field's bytes (weights
// above all): it reads the model's structure through a buffer, seeks past
// the weights, and decodes nothing.
// A file it cannot read as a model gives an error; the loader will say why.
func countValues(p string) (int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	c := &valueCounter{r: client.NewSkipReader(f, 64<<10)}
	err = c.message((&onnxpb.ModelProto{}).ProtoReflect().Descriptor(), st.Size(), 0)
	return c.n, err
}

// maxNesting bounds the recursion as protobuf's own decoder does.
const maxNesting = 10000

var errWire = errors.New("malformed model")

type valueCounter struct {
	r *client.SkipReader
	n int64
}

// message counts a message of type md whose encoding is the next size bytes.
func (c *valueCounter) message(md protoreflect.MessageDescriptor, size int64, depth int) error {
	if depth > maxNesting {
		return fmt.Errorf("%w: nested more than %d deep", errWire, maxNesting)
	}
	c.n++
	for size > 0 {
		tag, k, err := c.varint()
		if err != nil {
			return err
		}
		size -= k
		num, typ := protowire.DecodeTag(tag)
		var skip int64
		switch typ {
		case protowire.VarintType:
			_, k, err := c.varint()
			if err != nil {
				return err
			}
			size -= k
			continue
		case protowire.Fixed32Type:
			skip = 4
		case protowire.Fixed64Type:
			skip = 8
		case protowire.BytesType:
			l, k, err := c.varint()
			if err != nil {
				return err
			}
			size -= k
			if l > uint64(size) {
				return fmt.Errorf("%w: a field runs past its message", errWire)
			}
			fd := md.Fields().ByNumber(num)
			switch {
			case fd != nil && fd.Kind() == protoreflect.MessageKind:
				if err := c.message(fd.Message(), int64(l), depth+1); err != nil {
					return err
				}
				size -= int64(l)
				continue
			case fd != nil && fd.Kind() == protoreflect.StringKind:
				c.n++
			}
			skip = int64(l)
		default:
			return fmt.Errorf("%w: wire type %d", errWire, typ)
		}
		if skip > size {
			return fmt.Errorf("%w: a field runs past its message", errWire)
		}
		if _, err := c.r.Discard(int(skip)); err != nil {
			return fmt.Errorf("%w: %v", errWire, err)
		}
		size -= skip
	}
	if size < 0 {
		return fmt.Errorf("%w: a field runs past its message", errWire)
	}
	return nil
}

// varint reads a varint and returns it with its length.
func (c *valueCounter) varint() (uint64, int64, error) {
	cr := &countingByteReader{r: c.r}
	v, err := binary.ReadUvarint(cr)
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, 0, fmt.Errorf("%w: %v", errWire, err)
	}
	return v, cr.n, nil
}

type countingByteReader struct {
	r *client.SkipReader
	n int64
}

func (b *countingByteReader) ReadByte() (byte, error) {
	c, err := b.r.ReadByte()
	if err == nil {
		b.n++
	}
	return c, err
}
