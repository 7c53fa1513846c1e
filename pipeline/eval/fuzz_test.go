package eval

import (
	"math"
	"testing"

	"google.golang.org/protobuf/proto"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// fuzzBudget is the fold budget under fuzzing: small, so that a kernel that
// allocates before it checks shows as an output over it (or as a crash).
const fuzzBudget = 1 << 20

// byteReader draws small choices from the fuzzer's bytes; past their end
// every draw is 0.
type byteReader struct{ b []byte }

func (r *byteReader) byte() byte {
	if len(r.b) == 0 {
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *byteReader) intn(n int) int { return int(r.byte()) % n }

// interesting are the integers that break size arithmetic.
var interesting = []int64{0, 1, 2, 3, 4, -1, -2, 7, 65536, 1<<31 - 1, 1 << 32, 1 << 40, 1 << 62, math.MaxInt64, math.MinInt64, -1 << 40}

func (r *byteReader) int64() int64 {
	if v := r.byte(); v < 128 {
		return int64(v%9) - 3
	} else {
		return interesting[int(v)%len(interesting)]
	}
}

func (r *byteReader) ints(max int) []int64 {
	v := make([]int64, r.intn(max+1))
	for i := range v {
		v[i] = r.int64()
	}
	return v
}

var fuzzTypes = []tensor.DType{tensor.Float, tensor.Int64, tensor.Bool, tensor.Double, tensor.Int32, tensor.Float16, tensor.Uint8, tensor.String}

// tensor draws a small tensor: rank up to 3, dims up to 3 (a dim of a
// value from interesting when the tensor stays empty), int64 values drawn
// from interesting so that shapes, repeats and pads are hostile too.
func (r *byteReader) tensor() *tensor.Tensor {
	d := fuzzTypes[r.intn(len(fuzzTypes))]
	dims := make([]int64, r.intn(4))
	for i := range dims {
		dims[i] = int64(r.intn(4))
	}
	if len(dims) > 0 && dims[0] == 0 && r.intn(2) == 1 && len(dims) > 1 {
		dims[1] = interesting[r.intn(len(interesting))]
		if dims[1] < 0 {
			dims[1] = 1 << 40
		}
	}
	t := tensor.New(d, dims)
	for i := range t.F32 {
		t.F32[i] = float32(r.int64())
	}
	for i := range t.F64 {
		t.F64[i] = float64(r.int64())
	}
	for i := range t.I64 {
		t.I64[i] = wrapInt(d, r.int64())
	}
	for i := range t.Str {
		t.Str[i] = []byte{r.byte()}
	}
	return t
}

func fuzzIntAttr(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(v)}
}

// attrs draws attributes among those the kernels read.
func (r *byteReader) attrs() Attrs {
	var a Attrs
	ints := []string{"axis", "keepdims", "to", "group", "upper", "noop_with_empty_axes", "num_outputs", "transA", "transB", "ceil_mode", "allowzero", "start", "end", "storage_order", "training_mode"}
	lists := []string{"perm", "axes", "starts", "ends", "split", "pads", "kernel_shape", "strides", "dilations"}
	for n := r.intn(5); n > 0; n-- {
		switch r.intn(5) {
		case 0, 1:
			a = append(a, fuzzIntAttr(ints[r.intn(len(ints))], r.int64()))
		case 2, 3:
			a = append(a, &onnxpb.AttributeProto{Name: proto.String(lists[r.intn(len(lists))]), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: r.ints(4)})
		default:
			switch r.intn(4) {
			case 0:
				a = append(a, &onnxpb.AttributeProto{Name: proto.String("mode"), Type: onnxpb.AttributeProto_STRING.Enum(), S: []byte([]string{"constant", "reflect", "edge"}[r.intn(3)])})
			case 1:
				a = append(a, &onnxpb.AttributeProto{Name: proto.String("auto_pad"), Type: onnxpb.AttributeProto_STRING.Enum(), S: []byte([]string{"NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER", "BAD"}[r.intn(5)])})
			case 2:
				a = append(a, &onnxpb.AttributeProto{Name: proto.String("value"), Type: onnxpb.AttributeProto_TENSOR.Enum(), T: r.tensor().Proto("v")})
			default:
				a = append(a, &onnxpb.AttributeProto{Name: proto.String([]string{"alpha", "beta", "epsilon"}[r.intn(3)]), Type: onnxpb.AttributeProto_FLOAT.Enum(), F: proto.Float32(float32(r.int64()))})
			}
		}
	}
	return a
}

// FuzzKernels runs every folding kernel (picked by the first value) at
// every opset it is registered for, on small random tensors whose integer
// values and attributes include sizes near 2^31, 2^40 and 2^63. A kernel
// must return values or an error, never panic, and never produce outputs
// over its budget.
func FuzzKernels(f *testing.F) {
	keys := registry.Ops()
	for i := range keys {
		f.Add(uint16(i), []byte{2, 1, 2, 2, 0, 3, 1, 1, 2, 2, 2, 0, 4, 5, 6, 7})
		f.Add(uint16(i), []byte{3, 0, 2, 1, 1, 1, 0, 1, 2, 200, 201, 202, 1, 1, 2, 3})
	}
	f.Fuzz(func(t *testing.T, which uint16, data []byte) {
		k := keys[int(which)%len(keys)]
		r := &byteReader{b: data}
		var ops []Op
		for _, op := range registry.Rows(k) {
			if op.Unchanged == "" {
				ops = append(ops, op)
			}
		}
		op := ops[r.intn(len(ops))]
		ins := make([]*tensor.Tensor, r.intn(5))
		for i := range ins {
			if r.intn(8) != 0 {
				ins[i] = r.tensor()
			}
		}
		c := &Ctx{In: ins, Attrs: r.attrs(), NumOutputs: 1 + r.intn(3), Opset: op.Since + int64(r.intn(3)), Budget: Budget{MaxBytes: fuzzBudget}}
		if checkInputs(ins) != nil {
			return
		}
		outs, err := op.Rule(c)
		if err != nil {
			return
		}
		var n int64
		for _, o := range outs {
			if o == nil {
				continue
			}
			n += MemBytes(o)
			if got, want := o.Len(), int64(max(len(o.F32), len(o.F64), len(o.I64), len(o.Str))); got != want && !(got == 0 && want == 0) {
				t.Fatalf("%s: output of dims %v holds %d values", k.Name, o.Dims, want)
			}
		}
		if lim := c.limit(); n > lim {
			t.Fatalf("%s: outputs take %d bytes, over the budget of %d", k.Name, n, lim)
		}
	})
}
