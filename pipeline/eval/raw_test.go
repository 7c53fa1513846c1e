package eval

import (
	"bytes"
	"io"
	"math/rand"
	"testing"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// TestMovementMatchesKernels: for each data-movement node, MovementOf on a
// tensor without values and PermuteRaw on its bytes give the bytes and dims
// that the kernel gives on the decoded tensor.
func TestMovementMatchesKernels(t *testing.T) {
	ints := func(v ...int64) *tensor.Tensor { return tensor.FromInt64s([]int64{int64(len(v))}, v) }
	permAttr := func(p ...int64) *onnxpb.AttributeProto {
		return &onnxpb.AttributeProto{Name: strPtr("perm"), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: p}
	}
	intAttr := func(name string, v int64) *onnxpb.AttributeProto {
		return &onnxpb.AttributeProto{Name: strPtr(name), Type: onnxpb.AttributeProto_INT.Enum(), I: &v}
	}
	cases := []struct {
		name  string
		op    string
		dtype tensor.DType
		dims  []int64
		extra []*tensor.Tensor
		attrs []*onnxpb.AttributeProto
		perm  bool
	}{
		{"transpose 2-D float", "Transpose", tensor.Float, []int64{37, 300}, nil, nil, true},
		{"transpose 4-D half", "Transpose", tensor.Float16, []int64{2, 3, 5, 7}, nil, []*onnxpb.AttributeProto{permAttr(0, 2, 3, 1)}, true},
		{"transpose 3-D int64", "Transpose", tensor.Int64, []int64{4, 1, 9}, nil, []*onnxpb.AttributeProto{permAttr(2, 0, 1)}, true},
		{"transpose 2-D uint8", "Transpose", tensor.Uint8, []int64{513, 3}, nil, nil, true},
		{"transpose scalar", "Transpose", tensor.Float, []int64{}, nil, nil, true},
		{"transpose empty", "Transpose", tensor.Float, []int64{0, 4}, nil, nil, true},
		{"transpose wide rows", "Transpose", tensor.Double, []int64{1, 300000}, nil, nil, true},
		{"reshape", "Reshape", tensor.Float, []int64{6, 4}, []*tensor.Tensor{ints(0, -1, 2)}, nil, false},
		{"flatten", "Flatten", tensor.Float, []int64{2, 3, 4}, nil, []*onnxpb.AttributeProto{intAttr("axis", 2)}, false},
		{"squeeze", "Squeeze", tensor.Float, []int64{1, 3, 1}, []*tensor.Tensor{ints(0)}, nil, false},
		{"unsqueeze", "Unsqueeze", tensor.Int32, []int64{3, 4}, []*tensor.Tensor{ints(0, -1)}, nil, false},
		{"identity", "Identity", tensor.Float, []int64{5}, nil, nil, false},
		{"cast to same", "Cast", tensor.Float, []int64{5}, nil, []*onnxpb.AttributeProto{intAttr("to", int64(tensor.Float))}, false},
	}
	rng := rand.New(rand.NewSource(1))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			x := tensor.New(c.dtype, c.dims)
			for i := range x.F32 {
				x.F32[i] = float32(rng.Intn(1000)) / 8
			}
			for i := range x.F64 {
				x.F64[i] = float64(rng.Intn(1000)) / 8
			}
			for i := range x.I64 {
				x.I64[i] = int64(rng.Intn(250))
			}
			n := &onnxpb.NodeProto{OpType: strPtr(c.op), Name: strPtr("n"), Output: []string{"y"}, Attribute: c.attrs}
			want, err := Run(n, 17, append([]*tensor.Tensor{x}, c.extra...))
			if err != nil {
				t.Fatal(err)
			}
			shape := &tensor.Tensor{DType: c.dtype, Dims: c.dims}
			mv, ok, err := MovementOf(n, 17, append([]*tensor.Tensor{shape}, c.extra...))
			if err != nil || !ok {
				t.Fatalf("MovementOf: %v, %v", ok, err)
			}
			if (mv.Steps != nil) != c.perm {
				t.Errorf("permutes: %v, want %v", mv.Steps != nil, c.perm)
			}
			if !equalDims(mv.Dims, want[0].Dims) {
				t.Errorf("dims %v, want %v", mv.Dims, want[0].Dims)
			}
			got := x.Raw()
			if mv.Steps != nil {
				var b bytes.Buffer
				if err := PermuteRaw(&b, x.Raw(), int(c.dtype.Bits()/8), mv); err != nil {
					t.Fatal(err)
				}
				got = b.Bytes()
			}
			if w := want[0].Raw(); !bytes.Equal(got, w) && len(w) != 0 {
				t.Errorf("bytes differ from the kernel's")
			}
		})
	}
	cast := &onnxpb.NodeProto{OpType: strPtr("Cast"), Attribute: []*onnxpb.AttributeProto{intAttr("to", int64(tensor.Double))}}
	if _, ok, _ := MovementOf(cast, 17, []*tensor.Tensor{{DType: tensor.Float, Dims: []int64{2}}}); ok {
		t.Error("a Cast to another type is a movement")
	}
}

func equalDims(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func strPtr(s string) *string { return &s }

// TestTranspose2DMatchesGather: the tiled 2-D transpose gives the bytes of
// the row-by-row gather, for shapes around its tile and band sizes.
func TestTranspose2DMatchesGather(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	for _, c := range []struct{ rows, cols, width int }{
		{2, 2, 4}, {33, 17, 4}, {31, 65, 2}, {100, 3, 8}, {7, 40000, 1}, {40000, 5, 4}, {64, 64, 3},
		{37, 41, 8}, {45, 23, 1}, {13, 9, 16}, {4, 4, 2}, {3, 5, 4}, {5, 3, 4}, {2, 300000, 4}, {300000, 2, 2},
	} {
		src := make([]byte, c.rows*c.cols*c.width)
		rng.Read(src)
		want := make([]byte, 0, len(src))
		for j := 0; j < c.cols; j++ {
			for i := 0; i < c.rows; i++ {
				p := (i*c.cols + j) * c.width
				want = append(want, src[p:p+c.width]...)
			}
		}
		var b bytes.Buffer
		mv := Movement{Dims: []int64{int64(c.cols), int64(c.rows)}, Steps: []int64{1, int64(c.cols)}}
		if err := PermuteRaw(&b, src, c.width, mv); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b.Bytes(), want) {
			t.Errorf("%+v: transpose differs", c)
		}
	}
}

// BenchmarkPermuteRaw times the raw transpose that constant folding runs on
// every MatMul weight of a torch export (a Linear's weight is stored
// out x in and transposed in the graph), for GPT-2 large's weight shapes,
// into a writer that discards: the permutation's own cost, without the file.
func BenchmarkPermuteRaw(b *testing.B) {
	for _, c := range []struct {
		name       string
		rows, cols int // the stored weight's dims
		width      int
	}{
		{"qkv_3840x1280_f32", 3840, 1280, 4},
		{"fc_5120x1280_f32", 5120, 1280, 4},
		{"out_1280x5120_f32", 1280, 5120, 4},
		{"head_50257x1280_f32", 50257, 1280, 4},
		{"fc_5120x1280_f16", 5120, 1280, 2},
	} {
		b.Run(c.name, func(b *testing.B) {
			src := make([]byte, c.rows*c.cols*c.width)
			rand.New(rand.NewSource(1)).Read(src)
			mv := Movement{Dims: []int64{int64(c.cols), int64(c.rows)}, Steps: []int64{1, int64(c.cols)}}
			b.SetBytes(int64(len(src)))
			b.ResetTimer()
			for range b.N {
				if err := PermuteRaw(io.Discard, src, c.width, mv); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
