package eval

import (
	"fmt"
	"testing"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

var opTranspose = "Transpose"

// TestTransposeShapes checks Transpose against the definition, out[i] =
// in[perm-applied i], on ranks 0 to 4, empty tensors and int64 data.
func TestTransposeShapes(t *testing.T) {
	for _, tt := range []struct {
		dims []int64
		perm []int64 // nil: the default, reversed axes
	}{
		{[]int64{}, nil},
		{[]int64{5}, nil},
		{[]int64{3, 4}, nil},
		{[]int64{3, 4}, []int64{0, 1}},
		{[]int64{2, 3, 4}, []int64{1, 2, 0}},
		{[]int64{2, 3, 4}, []int64{2, 0, 1}},
		{[]int64{2, 1, 3, 2}, []int64{3, 1, 0, 2}},
		{[]int64{2, 0, 3}, []int64{2, 1, 0}},
	} {
		for _, dt := range []tensor.DType{tensor.Float, tensor.Int64} {
			t.Run(fmt.Sprintf("%v/%v/%v", tt.dims, tt.perm, dt), func(t *testing.T) {
				n := tensor.NumElements(tt.dims)
				var x *tensor.Tensor
				if dt == tensor.Float {
					v := make([]float32, n)
					for i := range v {
						v[i] = float32(i)
					}
					x = tensor.FromFloat32s(tt.dims, v)
				} else {
					v := make([]int64, n)
					for i := range v {
						v[i] = int64(i)
					}
					x = tensor.FromInt64s(tt.dims, v)
				}
				perm := tt.perm
				nd := &onnxpb.NodeProto{OpType: &opTranspose, Input: []string{"x"}, Output: []string{"y"}}
				if perm != nil {
					nd.Attribute = []*onnxpb.AttributeProto{intsAttr("perm", perm...)}
				} else {
					for i := len(tt.dims) - 1; i >= 0; i-- {
						perm = append(perm, int64(i))
					}
				}
				outs, err := Run(nd, 17, []*tensor.Tensor{x})
				if err != nil {
					t.Fatal(err)
				}
				y := outs[0]
				st := strides(tt.dims)
				want := make([]int64, len(perm))
				for i, p := range perm {
					want[i] = tt.dims[p]
				}
				if fmt.Sprint(y.Dims) != fmt.Sprint(want) || int64(y.Len()) != n {
					t.Fatalf("dims %v (%d elements), want %v", y.Dims, y.Len(), want)
				}
				i := 0
				forEachIndex(want, func(ix []int64) {
					src := int64(0)
					for a, v := range ix {
						src += v * st[perm[a]]
					}
					if got := y.Float64At(i); got != float64(src) {
						t.Errorf("out[%v] = %v, want in[%d]", ix, got, src)
					}
					i++
				})
			})
		}
	}
}
