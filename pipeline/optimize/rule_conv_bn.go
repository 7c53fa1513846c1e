package optimize

import (
	"math"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/model"
)

// fuseConvBN folds a BatchNormalization into the Conv before it:
// with a = scale / sqrt(var + epsilon) per output channel, W' = W * a and
// B' = (B - mean) * a + bias. Safe at inference when the Conv's output is
// read only by the BatchNormalization, every weight and statistic is a
// constant initializer of the Conv's float type with one value per output
// channel, and the BatchNormalization's extra (training) outputs are absent
// or unread. The Conv then produces the BatchNormalization's output.
var fuseConvBN = rule{
	name: "ConvBNFusion",
	ops:  []string{"BatchNormalization"},
	apply: func(g *graph, bn *onnxpb.NodeProto) bool {
		if len(bn.GetInput()) != 5 || model.AttrsOf(bn).Int("training_mode", 0) != 0 || model.AttrsOf(bn).Int("spatial", 1) != 1 {
			return false
		}
		for i := 1; i < len(bn.GetOutput()); i++ {
			if o := bn.GetOutput()[i]; o != "" && (len(g.consumersOf(o)) > 0 || g.isGraphOutput(o)) {
				return false
			}
		}
		conv := g.producerOf(input(bn, 0))
		if conv == nil {
			return false
		}
		w, b, ok := convWeights(g, conv)
		if !ok {
			return false
		}
		m := w.Dims[0]
		var p [4][]float64 // scale, bias, mean, var
		for i := range p {
			t := g.constant(input(bn, i+1))
			if t == nil || t.DType != w.DType || len(t.Dims) != 1 || t.Dims[0] != m {
				return false
			}
			p[i] = floats(t)
		}
		eps := float64(model.AttrsOf(bn).Float("epsilon", 1e-5))
		scale := make([]float64, m)
		nb := make([]float64, m)
		for c := int64(0); c < m; c++ {
			a := p[0][c] / math.Sqrt(p[3][c]+eps)
			scale[c] = a
			nb[c] = (b[c]-p[2][c])*a + p[1][c]
		}
		return rewriteConv(g, conv, bn, w, scale, nb, bn.GetOutput()[0])
	},
}
