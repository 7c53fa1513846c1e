package optimize

import (
	"math"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/model"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// fuseReluClip removes a Relu whose output only a Clip reads, raising the
// Clip's lower bound to at least 0: clip(relu(x), lo, hi) = clip(x, max(lo,
// 0), hi). Safe when the bound is known: an attribute before opset 11, from
// 11 on a constant input or absent (then a new 0 of x's known type).
var fuseReluClip = rule{
	name: "FuseReluClip",
	ops:  []string{"Relu"},
	apply: func(g *graph, relu *onnxpb.NodeProto) bool {
		out := outputAt(relu, 0)
		if out == "" || len(relu.GetInput()) != 1 || !g.singleUse(out) {
			return false
		}
		clip := g.consumersOf(out)[0]
		if !isOp(clip, "Clip") || input(clip, 0) != out {
			return false
		}
		if g.opset < 11 {
			lo := model.AttrsOf(clip).Float("min", -math.MaxFloat32)
			if lo < 0 {
				setAttrFloat(clip, "min", 0)
			}
		} else {
			var lo *tensor.Tensor
			if name := input(clip, 1); name != "" {
				if lo = g.small(name, 1); lo == nil || lo.Len() != 1 {
					return false
				}
			} else {
				d := g.typeOf(relu.GetInput()[0], 0)
				if !d.IsFloat() && !d.IsInt() {
					return false
				}
				lo = tensor.New(d, nil)
			}
			if lo.Float64At(0) < 0 || input(clip, 1) == "" {
				zero := tensor.New(lo.DType, nil)
				name := g.fresh(baseName(clip) + "_min")
				g.addInitializer(name, zero)
				g.setInput(clip, 1, name)
			}
		}
		src := relu.GetInput()[0]
		g.removeNodes(relu)
		g.setInput(clip, 0, src)
		return true
	},
}
