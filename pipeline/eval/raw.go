package eval

import (
	"encoding/binary"
	"fmt"
	"io"
	"sync"

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
// output rows through one buffer of about permuteChunk bytes. Each band is
// filled tile by tile (tileRows source rows at a time, so that the source
// cache lines a tile reads serve the whole band), and each tile in blocks of
// 4 x 4 elements: a block's 16 loads and 16 stores are independent, where an
// element-by-element gather waits on one strided load at a time. On GPT-2
// large's weight shapes the blocks are 2 to 3 times as fast as the gather
// (BenchmarkPermuteRaw), and this transpose is most of the CPU time of
// preprocessing a torch export.
func transpose2D(w io.Writer, src []byte, rows, cols, width int) error {
	const tileRows = 32
	band := max(permuteChunk/(rows*width), 16) // output rows per write
	band = min(band, cols)
	bp := bandBuffers.Get().(*[]byte)
	defer bandBuffers.Put(bp)
	if cap(*bp) < band*rows*width {
		*bp = make([]byte, band*rows*width)
	}
	buf := (*bp)[:band*rows*width]
	block := blockKernel(width)
	rb, ob := cols*width, rows*width // source and output row bytes
	for j0 := 0; j0 < cols; j0 += band {
		j1 := min(j0+band, cols)
		out := buf[:(j1-j0)*ob]
		for i0 := 0; i0 < rows; i0 += tileRows {
			i1 := min(i0+tileRows, rows)
			n4 := (i1 - i0) &^ 3 // rows the 4 x 4 blocks cover
			j := j0
			if block != nil {
				for ; j+4 <= j1; j += 4 {
					block(out, (j-j0)*ob+i0*width, ob, src, i0*rb+j*width, rb, n4)
				}
			} else {
				n4 = 0
			}
			// The edges: columns past the last whole block, rows past the
			// last whole block.
			for ; j < j1; j++ {
				for i := i0; i < i0+n4; i++ {
					copy(out[(j-j0)*ob+i*width:][:width], src[i*rb+j*width:][:width])
				}
			}
			for i := i0 + n4; i < i1; i++ {
				for j := j0; j < j1; j++ {
					copy(out[(j-j0)*ob+i*width:][:width], src[i*rb+j*width:][:width])
				}
			}
		}
		if _, err := w.Write(out); err != nil {
			return err
		}
	}
	return nil
}

// bandBuffers holds transpose2D's band buffers between calls: a model's
// weights are transposed one after another, and reusing one buffer spares
// the process a fresh megabyte of memory for each.
var bandBuffers = sync.Pool{New: func() any { return new([]byte) }}

// blockFunc transposes 4 source columns x n source rows (n a multiple of 4)
// at src[p:] (source rows rb bytes apart) into 4 output rows at out[o:]
// (ob bytes apart).
type blockFunc func(out []byte, o, ob int, src []byte, p, rb, n int)

// blockKernel returns the 4 x 4 block kernel for elements of width bytes,
// or nil for widths without one (they go element by element). Each kernel is
// a small function of its own so that the compiler inlines its loads and
// stores.
func blockKernel(width int) blockFunc {
	switch width {
	case 1:
		return block8
	case 2:
		return block16
	case 4:
		return block32
	case 8:
		return block64
	}
	return nil
}

func block8(out []byte, o, ob int, src []byte, p, rb, n int) {
	for k := 0; k < n; k += 4 {
		r0 := src[p : p+4 : p+4]
		r1 := src[p+rb : p+rb+4 : p+rb+4]
		r2 := src[p+2*rb : p+2*rb+4 : p+2*rb+4]
		r3 := src[p+3*rb : p+3*rb+4 : p+3*rb+4]
		d0 := out[o : o+4 : o+4]
		d1 := out[o+ob : o+ob+4 : o+ob+4]
		d2 := out[o+2*ob : o+2*ob+4 : o+2*ob+4]
		d3 := out[o+3*ob : o+3*ob+4 : o+3*ob+4]
		d0[0], d0[1], d0[2], d0[3] = r0[0], r1[0], r2[0], r3[0]
		d1[0], d1[1], d1[2], d1[3] = r0[1], r1[1], r2[1], r3[1]
		d2[0], d2[1], d2[2], d2[3] = r0[2], r1[2], r2[2], r3[2]
		d3[0], d3[1], d3[2], d3[3] = r0[3], r1[3], r2[3], r3[3]
		p += 4 * rb
		o += 4
	}
}

func block16(out []byte, o, ob int, src []byte, p, rb, n int) {
	le := binary.LittleEndian
	for k := 0; k < n; k += 4 {
		r0 := src[p : p+8 : p+8]
		r1 := src[p+rb : p+rb+8 : p+rb+8]
		r2 := src[p+2*rb : p+2*rb+8 : p+2*rb+8]
		r3 := src[p+3*rb : p+3*rb+8 : p+3*rb+8]
		d0 := out[o : o+8 : o+8]
		d1 := out[o+ob : o+ob+8 : o+ob+8]
		d2 := out[o+2*ob : o+2*ob+8 : o+2*ob+8]
		d3 := out[o+3*ob : o+3*ob+8 : o+3*ob+8]
		le.PutUint16(d0[0:], le.Uint16(r0[0:]))
		le.PutUint16(d0[2:], le.Uint16(r1[0:]))
		le.PutUint16(d0[4:], le.Uint16(r2[0:]))
		le.PutUint16(d0[6:], le.Uint16(r3[0:]))
		le.PutUint16(d1[0:], le.Uint16(r0[2:]))
		le.PutUint16(d1[2:], le.Uint16(r1[2:]))
		le.PutUint16(d1[4:], le.Uint16(r2[2:]))
		le.PutUint16(d1[6:], le.Uint16(r3[2:]))
		le.PutUint16(d2[0:], le.Uint16(r0[4:]))
		le.PutUint16(d2[2:], le.Uint16(r1[4:]))
		le.PutUint16(d2[4:], le.Uint16(r2[4:]))
		le.PutUint16(d2[6:], le.Uint16(r3[4:]))
		le.PutUint16(d3[0:], le.Uint16(r0[6:]))
		le.PutUint16(d3[2:], le.Uint16(r1[6:]))
		le.PutUint16(d3[4:], le.Uint16(r2[6:]))
		le.PutUint16(d3[6:], le.Uint16(r3[6:]))
		p += 4 * rb
		o += 8
	}
}

func block32(out []byte, o, ob int, src []byte, p, rb, n int) {
	le := binary.LittleEndian
	for k := 0; k < n; k += 4 {
		r0 := src[p : p+16 : p+16]
		r1 := src[p+rb : p+rb+16 : p+rb+16]
		r2 := src[p+2*rb : p+2*rb+16 : p+2*rb+16]
		r3 := src[p+3*rb : p+3*rb+16 : p+3*rb+16]
		d0 := out[o : o+16 : o+16]
		d1 := out[o+ob : o+ob+16 : o+ob+16]
		d2 := out[o+2*ob : o+2*ob+16 : o+2*ob+16]
		d3 := out[o+3*ob : o+3*ob+16 : o+3*ob+16]
		le.PutUint32(d0[0:], le.Uint32(r0[0:]))
		le.PutUint32(d0[4:], le.Uint32(r1[0:]))
		le.PutUint32(d0[8:], le.Uint32(r2[0:]))
		le.PutUint32(d0[12:], le.Uint32(r3[0:]))
		le.PutUint32(d1[0:], le.Uint32(r0[4:]))
		le.PutUint32(d1[4:], le.Uint32(r1[4:]))
		le.PutUint32(d1[8:], le.Uint32(r2[4:]))
		le.PutUint32(d1[12:], le.Uint32(r3[4:]))
		le.PutUint32(d2[0:], le.Uint32(r0[8:]))
		le.PutUint32(d2[4:], le.Uint32(r1[8:]))
		le.PutUint32(d2[8:], le.Uint32(r2[8:]))
		le.PutUint32(d2[12:], le.Uint32(r3[8:]))
		le.PutUint32(d3[0:], le.Uint32(r0[12:]))
		le.PutUint32(d3[4:], le.Uint32(r1[12:]))
		le.PutUint32(d3[8:], le.Uint32(r2[12:]))
		le.PutUint32(d3[12:], le.Uint32(r3[12:]))
		p += 4 * rb
		o += 16
	}
}

func block64(out []byte, o, ob int, src []byte, p, rb, n int) {
	le := binary.LittleEndian
	for k := 0; k < n; k += 4 {
		r0 := src[p : p+32 : p+32]
		r1 := src[p+rb : p+rb+32 : p+rb+32]
		r2 := src[p+2*rb : p+2*rb+32 : p+2*rb+32]
		r3 := src[p+3*rb : p+3*rb+32 : p+3*rb+32]
		d0 := out[o : o+32 : o+32]
		d1 := out[o+ob : o+ob+32 : o+ob+32]
		d2 := out[o+2*ob : o+2*ob+32 : o+2*ob+32]
		d3 := out[o+3*ob : o+3*ob+32 : o+3*ob+32]
		le.PutUint64(d0[0:], le.Uint64(r0[0:]))
		le.PutUint64(d0[8:], le.Uint64(r1[0:]))
		le.PutUint64(d0[16:], le.Uint64(r2[0:]))
		le.PutUint64(d0[24:], le.Uint64(r3[0:]))
		le.PutUint64(d1[0:], le.Uint64(r0[8:]))
		le.PutUint64(d1[8:], le.Uint64(r1[8:]))
		le.PutUint64(d1[16:], le.Uint64(r2[8:]))
		le.PutUint64(d1[24:], le.Uint64(r3[8:]))
		le.PutUint64(d2[0:], le.Uint64(r0[16:]))
		le.PutUint64(d2[8:], le.Uint64(r1[16:]))
		le.PutUint64(d2[16:], le.Uint64(r2[16:]))
		le.PutUint64(d2[24:], le.Uint64(r3[16:]))
		le.PutUint64(d3[0:], le.Uint64(r0[24:]))
		le.PutUint64(d3[8:], le.Uint64(r1[24:]))
		le.PutUint64(d3[16:], le.Uint64(r2[24:]))
		le.PutUint64(d3[24:], le.Uint64(r3[24:]))
		p += 4 * rb
		o += 32
	}
}
