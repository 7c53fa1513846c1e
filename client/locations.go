package client

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"

	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers of onnx.proto (api/onnx) on the paths that lead to tensors.
// ExternalLocations walks the wire format along them instead of unmarshalling
// the model, so that a large inline model's weights are not copied again: the
// client then holds the file's bytes once.
const (
	modelGraph        = 7
	modelTrainingInfo = 20
	modelFunctions    = 25
	trainingInit      = 1
	trainingAlgorithm = 2
	graphNode         = 1
	graphInitializer  = 5
	graphSparseInit   = 15
	nodeAttribute     = 5
	functionNode      = 7
	functionAttrProto = 11
	attrT             = 5
	attrG             = 6
	attrTensors       = 10
	attrGraphs        = 11
	attrSparseTensor  = 22
	attrSparseTensors = 23
	sparseValues      = 1
	sparseIndices     = 2
	tensorExternal    = 13
	tensorLocation    = 14
	entryKey          = 1
	entryValue        = 2
	locationExternal  = 1 // TensorProto.DataLocation EXTERNAL
)

// ExternalLocations lists, sorted and cleaned, the external-data files that a
// serialized model's tensors point to, in every graph, subgraph, attribute,
// sparse tensor, function and training graph.
func ExternalLocations(modelBytes []byte) ([]string, error) {
	return ExternalLocationsFrom(bytes.NewReader(modelBytes))
}

// ExternalLocationsFrom is ExternalLocations on a model read from r. It holds
// no more of the model in memory than a buffer and the messages on the path
// to a location: weights are skipped, not read, so that uploading a large
// inline model needs no memory in proportion to it.
func ExternalLocationsFrom(r io.Reader) ([]string, error) {
	seen := map[string]bool{}
	type fieldFn = func(*wire) error
	var graph, node, attribute, sparse fieldFn
	// A tensor's state is what decides its location. Protobuf merges the
	// occurrences of a singular message field, so for those (an attribute's t,
	// a sparse tensor's values) every occurrence is read into one state, in
	// which a later data_location or location overrides an earlier one, and
	// the state is committed once the enclosing message has been read.
	type tensorState struct {
		external bool
		loc      string
	}
	commit := func(st tensorState) {
		if st.external && st.loc != "" {
			seen[path.Clean(st.loc)] = true
		}
	}
	tensorInto := func(st *tensorState) fieldFn {
		return func(w *wire) error {
			return w.walk(func(num protowire.Number, typ protowire.Type, x uint64, body *wire) error {
				switch {
				case num == tensorLocation && typ == protowire.VarintType:
					st.external = x == locationExternal
				case num == tensorExternal && typ == protowire.BytesType:
					var key, value string
					if err := body.walk(func(num protowire.Number, typ protowire.Type, _ uint64, v *wire) error {
						if typ != protowire.BytesType || num != entryKey && num != entryValue {
							return nil
						}
						b, err := v.all()
						if err != nil {
							return err
						}
						if num == entryKey {
							key = string(b)
						} else {
							value = string(b)
						}
						return nil
					}); err != nil {
						return err
					}
					if key == "location" {
						st.loc = value
					}
				}
				return nil
			})
		}
	}
	tensor := func(w *wire) error {
		var st tensorState
		if err := tensorInto(&st)(w); err != nil {
			return err
		}
		commit(st)
		return nil
	}
	sub := func(fields map[protowire.Number]fieldFn) fieldFn {
		return func(w *wire) error {
			return w.walk(func(num protowire.Number, typ protowire.Type, _ uint64, body *wire) error {
				if f := fields[num]; f != nil && typ == protowire.BytesType {
					return f(body)
				}
				return nil
			})
		}
	}
	type sparseState struct{ values, indices tensorState }
	sparseInto := func(st *sparseState) fieldFn {
		return sub(map[protowire.Number]fieldFn{sparseValues: tensorInto(&st.values), sparseIndices: tensorInto(&st.indices)})
	}
	sparse = func(w *wire) error {
		var st sparseState
		if err := sparseInto(&st)(w); err != nil {
			return err
		}
		commit(st.values)
		commit(st.indices)
		return nil
	}
	attribute = func(w *wire) error {
		var t tensorState
		var sp sparseState
		if err := sub(map[protowire.Number]fieldFn{attrT: tensorInto(&t), attrTensors: tensor, attrG: graph, attrGraphs: graph,
			attrSparseTensor: sparseInto(&sp), attrSparseTensors: sparse})(w); err != nil {
			return err
		}
		commit(t)
		commit(sp.values)
		commit(sp.indices)
		return nil
	}
	node = sub(map[protowire.Number]fieldFn{nodeAttribute: attribute})
	graph = func(w *wire) error {
		return sub(map[protowire.Number]fieldFn{graphNode: node, graphInitializer: tensor, graphSparseInit: sparse})(w)
	}
	model := sub(map[protowire.Number]fieldFn{
		modelGraph:        graph,
		modelFunctions:    sub(map[protowire.Number]fieldFn{functionNode: node, functionAttrProto: attribute}),
		modelTrainingInfo: sub(map[protowire.Number]fieldFn{trainingInit: graph, trainingAlgorithm: graph}),
	})
	if err := model(&wire{r: NewSkipReader(r, 64<<10), n: -1}); err != nil {
		return nil, fmt.Errorf("not an ONNX model: %w", err)
	}
	out := make([]string, 0, len(seen))
	for l := range seen {
		out = append(out, l)
	}
	sort.Strings(out)
	return out, nil
}

// errTruncated is a field that runs past the end of its message or the input.
var errTruncated = errors.New("unexpected end of input")

// wire reads one message of the protobuf wire format from a stream: n bytes
// of it, or (n < 0) all the stream holds.
type wire struct {
	r *SkipReader
	n int64
}

func (w *wire) done() bool {
	if w.n >= 0 {
		return w.n == 0
	}
	_, err := w.r.Peek(1)
	return err != nil
}

func (w *wire) byte() (byte, error) {
	if w.n == 0 {
		return 0, errTruncated
	}
	c, err := w.r.ReadByte()
	if err != nil {
		return 0, errTruncated
	}
	if w.n > 0 {
		w.n--
	}
	return c, nil
}

func (w *wire) varint() (uint64, error) {
	var x uint64
	for i := 0; i < 10; i++ {
		c, err := w.byte()
		if err != nil {
			return 0, err
		}
		if i == 9 && c > 1 {
			return 0, protowire.ParseError(-3) // overflow
		}
		x |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return x, nil
		}
	}
	return 0, protowire.ParseError(-3)
}

// skip discards k bytes of the message.
func (w *wire) skip(k int64) error {
	if w.n >= 0 && k > w.n {
		return errTruncated
	}
	for k > 0 {
		step := min(k, 1<<30)
		d, err := w.r.Discard(int(step))
		k -= int64(d)
		if w.n > 0 {
			w.n -= int64(d)
		}
		if err != nil {
			return errTruncated
		}
	}
	return nil
}

// all reads the rest of the message; only for small fields (strings).
func (w *wire) all() ([]byte, error) {
	if w.n < 0 {
		return io.ReadAll(w.r)
	}
	b := make([]byte, w.n)
	if _, err := io.ReadFull(w.r, b); err != nil {
		return nil, errTruncated
	}
	w.n = 0
	return b, nil
}

// walk calls fn for each varint and length-delimited field of the message,
// the latter with a reader of its bytes that fn may read or leave (the rest
// is skipped); other fields are skipped.
func (w *wire) walk(fn func(num protowire.Number, typ protowire.Type, x uint64, body *wire) error) error {
	for !w.done() {
		tag, err := w.varint()
		if err != nil {
			return err
		}
		num, typ := protowire.DecodeTag(tag)
		if num < protowire.MinValidNumber || num > protowire.MaxValidNumber {
			return protowire.ParseError(-4) // invalid field number
		}
		switch typ {
		case protowire.VarintType:
			x, err := w.varint()
			if err != nil {
				return err
			}
			if err := fn(num, typ, x, nil); err != nil {
				return err
			}
		case protowire.Fixed32Type:
			err = w.skip(4)
		case protowire.Fixed64Type:
			err = w.skip(8)
		case protowire.BytesType:
			k, err := w.varint()
			if err != nil {
				return err
			}
			if k > uint64(1<<62) || w.n >= 0 && int64(k) > w.n {
				return errTruncated
			}
			body := &wire{r: w.r, n: int64(k)}
			if w.n > 0 {
				w.n -= int64(k)
			}
			if err := fn(num, typ, 0, body); err != nil {
				return err
			}
			err = body.skip(body.n)
		case protowire.StartGroupType:
			err = w.skipGroup(num)
		default:
			return protowire.ParseError(-1) // an end of group without its start, or a reserved type
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// skipGroup skips the fields of a group up to its end tag.
func (w *wire) skipGroup(num protowire.Number) error {
	for {
		tag, err := w.varint()
		if err != nil {
			return err
		}
		n, typ := protowire.DecodeTag(tag)
		switch typ {
		case protowire.EndGroupType:
			if n != num {
				return protowire.ParseError(-1)
			}
			return nil
		case protowire.VarintType:
			_, err = w.varint()
		case protowire.Fixed32Type:
			err = w.skip(4)
		case protowire.Fixed64Type:
			err = w.skip(8)
		case protowire.BytesType:
			var k uint64
			if k, err = w.varint(); err == nil {
				if k > uint64(1<<62) {
					return errTruncated
				}
				err = w.skip(int64(k))
			}
		case protowire.StartGroupType:
			err = w.skipGroup(n)
		default:
			return protowire.ParseError(-1)
		}
		if err != nil {
			return err
		}
	}
}
