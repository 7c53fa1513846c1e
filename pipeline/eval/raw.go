package eval

import (
	"encoding/binary"
	"fmt"
	"io"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/model"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// Data movement on raw bytes.
//
// Transpose, Reshape, Flatten, Squeeze, Unsqueeze, Identity and a Cast to the
// input's own type compute nothing: their output is their first input's
// elements, in the same order or permuted. Folding them through Tensor would
// decode a weight, copy it and encode it again (three copies of every MatMul
// weight of a torch export); Movement says what they do to the bytes, and
// PermuteRaw does it straight into a writer, for elements of any width.

// Movement is what a data-movement node does to its first input's bytes.
type Movement struct {
	// Dims are the output's dims.
	Dims []int64
	// Steps, when not nil, permutes the elements: moving one step along
	// output axis a moves Steps[a] elements in the input. Nil means the
	// output's bytes are the input's bytes.
	Steps []int64
}

// movementOps are the operators MovementOf describes.
var movementKinds = map[string]bool{
	"Transpose": true, "Reshape": true, "Flatten": true, "Squeeze": true,
	"Unsqueeze": true, "Identity": true, "Cast": true,
}

// IsMovement reports whether n's op may be a pure data movement (a Cast
// only when it casts to its input's type, which MovementOf checks).
func IsMovement(n *onnxpb.NodeProto) bool {
	return model.IsDefaultDomain(n.GetDomain()) && movementKinds[n.GetOpType()]
}

// MovementOf describes a data-movement node (IsMovement). in[0] gives the
// data input's type and dims only: its values are not read and may be
// absent. The other inputs (Reshape's shape, Squeeze's axes) are decoded.
// ok is false for a Cast to another type and for ops that are not movements;
// err is the kernel's own error for inputs it rejects.
func MovementOf(n *onnxpb.NodeProto, opset int64, in []*tensor.Tensor) (mv Movement, ok bool, err error) {
	if !IsMovement(n) || len(in) == 0 || in[0] == nil {
		return Movement{}, false, nil
	}
	x := in[0]
	attrs := Attrs(n.GetAttribute())
	switch n.GetOpType() {
	case "Transpose":
		dims, steps, err := transposeLayout(attrs, x.Dims)
		if err != nil {
			return Movement{}, false, fmt.Errorf("node %q (Transpose): %w", n.GetName(), err)
		}
		return Movement{Dims: dims, Steps: steps}, true, nil
	case "Identity":
		return Movement{Dims: append([]int64{}, x.Dims...)}, true, nil
	case "Cast":
		if tensor.DType(attrs.Int("to", 0)) != x.DType {
			return Movement{}, false, nil
		}
		return Movement{Dims: append([]int64{}, x.Dims...)}, true, nil
	}
	// The reshaping kernels look at their data input's dims only, so they
	// run on x as it is, values or not.
	k, found := Lookup(n.GetDomain(), n.GetOpType(), opset)
	if !found {
		return Movement{}, false, nil
	}
	out, err := k(&Ctx{In: in, Attrs: attrs, NumOutputs: len(n.GetOutput()), Opset: opset})
	if err != nil {
		return Movement{}, false, fmt.Errorf("node %q (%s): %w", n.GetName(), n.GetOpType(), err)
	}
	if len(out) != 1 || tensor.NumElements(out[0].Dims) != x.Len() {
		return Movement{}, false, fmt.Errorf("node %q (%s): output of %d elements for an input of %d (a bug)", n.GetName(), n.GetOpType(), tensor.NumElements(out[0].Dims), x.Len())
	}
	return Movement{Dims: out[0].Dims}, true, nil
}

// permuteChunk is the size of the buffer PermuteRaw writes through.
const permuteChunk = 1 << 20

// PermuteRaw writes to w the elements of src (width bytes each, row-major
// over dims) in the order mv gives, through a buffer of at most a
// megabyte: the permuted copy never exists whole in memory.
func PermuteRaw(w io.Writer, src []byte, width int, mv Movement) error {
	n := tensor.NumElements(mv.Dims)
	if n < 0 || width <= 0 || int64(len(src)) != n*int64(width) || len(mv.Steps) != len(mv.Dims) {
		return fmt.Errorf("permute: %d bytes for %v elements of %d bytes", len(src), mv.Dims, width)
	}
	if n == 0 {
		return nil
	}
	last := len(mv.Dims) - 1
	if last < 0 {
		_, err := w.Write(src)
		return err
	}
	if len(mv.Dims) == 2 && mv.Steps[0] == 1 && mv.Steps[1] == mv.Dims[0] && mv.Dims[0] > 1 && mv.Dims[1] > 1 {
		return transpose2D(w, src, int(mv.Dims[1]), int(mv.Dims[0]), width)
	}
	inner, step := mv.Dims[last], mv.Steps[last]
	rowBytes := int(inner) * width
	buf := make([]byte, 0, max(permuteChunk/rowBytes, 1)*rowBytes)
	ix := make([]int64, last)
	base := int64(0) // element offset in src of the current output row
	le := binary.LittleEndian
	for o := int64(0); o < n; o += inner {
		row := buf[len(buf) : len(buf)+rowBytes]
		p := int(base) * width
		s := int(step) * width
		switch width {
		case 4:
			for k := 0; k < rowBytes; k += 4 {
				le.PutUint32(row[k:], le.Uint32(src[p:]))
				p += s
			}
		case 2:
			for k := 0; k < rowBytes; k += 2 {
				le.PutUint16(row[k:], le.Uint16(src[p:]))
				p += s
			}
		case 8:
			for k := 0; k < rowBytes; k += 8 {
				le.PutUint64(row[k:], le.Uint64(src[p:]))
				p += s
			}
		case 1:
			for k := range row {
				row[k] = src[p]
				p += s
			}
		default:
			for k := 0; k < rowBytes; k += width {
				copy(row[k:k+width], src[p:p+width])
				p += s
			}
		}
		buf = buf[:len(buf)+rowBytes]
		if len(buf) == cap(buf) {
			if _, err := w.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
		for a := last - 1; a >= 0; a-- {
			ix[a]++
			base += mv.Steps[a]
			if ix[a] < mv.Dims[a] {
				break
			}
			base -= ix[a] * mv.Steps[a]
			ix[a] = 0
		}
	}
	if len(buf) > 0 {
		_, err := w.Write(buf)
		return err
	}
	return nil
}

// transpose2D writes the transpose of src, a rows x cols matrix, in bands of
// output rows, each band in tiles of tileRows source rows: every cache line
// of src that a tile reads serves a whole band, where the row-by-row gather
// would fetch it again for each output row (GPT-2's 50257 x 768 vocabulary
// projection spans more than any cache).
func transpose2D(w io.Writer, src []byte, rows, cols, width int) error {
	const tileRows = 32
	band := max(permuteChunk/(rows*width), 16) // output rows per write
	band = min(band, cols)
	buf := make([]byte, band*rows*width)
	le := binary.LittleEndian
	rowBytes := cols * width
	for j0 := 0; j0 < cols; j0 += band {
		j1 := min(j0+band, cols)
		out := buf[:(j1-j0)*rows*width]
		for i0 := 0; i0 < rows; i0 += tileRows {
			i1 := min(i0+tileRows, rows)
			for j := j0; j < j1; j++ {
				o := ((j-j0)*rows + i0) * width
				p := i0*rowBytes + j*width
				switch width {
				case 4:
					for i := i0; i < i1; i++ {
						le.PutUint32(out[o:], le.Uint32(src[p:]))
						o += 4
						p += rowBytes
					}
				case 2:
					for i := i0; i < i1; i++ {
						le.PutUint16(out[o:], le.Uint16(src[p:]))
						o += 2
						p += rowBytes
					}
				case 8:
					for i := i0; i < i1; i++ {
						le.PutUint64(out[o:], le.Uint64(src[p:]))
						o += 8
						p += rowBytes
					}
				default:
					for i := i0; i < i1; i++ {
						copy(out[o:o+width], src[p:p+width])
						o += width
						p += rowBytes
					}
				}
			}
		}
		if _, err := w.Write(out); err != nil {
			return err
		}
	}
	return nil
}
