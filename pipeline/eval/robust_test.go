package eval

import (
	"fmt"
	"testing"

	"github.com/quantprep/quantprep/pipeline/tensor"
)

// TestKernelsRejectBadInputs calls every kernel directly with odd inputs:
// empty tensors, scalars, mixed types, missing inputs. A kernel may return an
// error but must not panic.
func TestKernelsRejectBadInputs(t *testing.T) {
	samples := []*tensor.Tensor{
		nil,
		tensor.New(tensor.Float, []int64{0}),
		tensor.New(tensor.Int64, []int64{0}),
		f32(nil, 2),
		i64(nil, 2),
		i64(nil, -1),
		boolT(nil, 1),
		f32([]int64{2, 3}, 1, 2, 3, 4, 5, 6),
		i64([]int64{2}, 2, 3),
		i64([]int64{3}, 0, -1, 7),
		{DType: tensor.String, Dims: []int64{1}, Str: [][]byte{[]byte("s")}},
	}
	for _, fam := range families {
		for _, op := range fam {
			if op.Unchanged != "" {
				continue // a marker has no kernel
			}
			for n := 0; n <= 3; n++ {
				// Every combination of n samples would be too many; walk a few.
				for s := 0; s < len(samples); s++ {
					in := make([]*tensor.Tensor, n)
					for i := range in {
						in[i] = samples[(s+3*i)%len(samples)]
					}
					name := fmt.Sprintf("%s-%d/%d", op.Name, op.Since, n)
					func() {
						defer func() {
							if p := recover(); p != nil {
								t.Errorf("%s with %v: panic: %v", name, in, p)
							}
						}()
						_, _ = op.Rule(&Ctx{In: in, NumOutputs: 1, Opset: op.Since})
					}()
				}
			}
		}
	}
}
