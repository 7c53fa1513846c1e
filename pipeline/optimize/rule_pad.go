package optimize

import (
	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/model"
)

// fusePad folds a constant zero Pad of the spatial axes into the pads of the
// Conv or AveragePool that reads it. Safe because those operators pad with
// zeros that count like the Pad's. An AveragePool must count its padding
// (count_include_pad = 1); one that does not and has no padding of its own
// (torch exports avg_pool2d with count_include_pad as Pad, then AveragePool)
// is given count_include_pad = 1, as ONNX Runtime does: its windows then hold
// the padded zeros and divide by the whole kernel, as they did reading the
// Pad's output. The Pad must be
// in constant mode with value 0, constant non-negative pads that are zero on
// the batch and channel axes, no axes input, and its output read only by
// that node, which must use explicit padding (auto_pad NOTSET). Unlike ONNX
// Runtime this rule leaves MaxPool alone: MaxPool ignores its padding, while
// a zero from a Pad can be the maximum of negative inputs.
var fusePad = rule{
	name: "PadFusion",
	ops:  []string{"Pad"},
	apply: func(g *graph, pad *onnxpb.NodeProto) bool {
		if len(pad.GetInput()) > 3 || len(pad.GetOutput()) != 1 || string(model.AttrsOf(pad).Get("mode").GetS()) != "" && string(model.AttrsOf(pad).Get("mode").GetS()) != "constant" {
			return false
		}
		out := pad.GetOutput()[0]
		if !g.singleUse(out) {
			return false
		}
		var pads []int64
		if g.opset >= 11 {
			var ok bool
			if pads, ok = constInts(g, input(pad, 1)); !ok {
				return false
			}
			if v := input(pad, 2); v != "" {
				c := g.small(v, 1)
				if c == nil || c.Len() != 1 || c.Float64At(0) != 0 {
					return false
				}
			}
		} else {
			pads = model.AttrsOf(pad).Get("pads").GetInts()
			if model.AttrsOf(pad).Float("value", 0) != 0 {
				return false
			}
		}
		r := len(pads) / 2
		if r < 3 || len(pads) != 2*r || pads[0] != 0 || pads[1] != 0 || pads[r] != 0 || pads[r+1] != 0 {
			return false
		}
		for _, p := range pads {
			if p < 0 {
				return false
			}
		}
		child := g.consumersOf(out)[0]
		if input(child, 0) != out || len(child.GetOutput()) != 1 {
			return false
		}
		countPad := false
		switch {
		case isOp(child, "Conv"):
		case isOp(child, "AveragePool") && model.AttrsOf(child).Int("count_include_pad", 0) != 0:
		case isOp(child, "AveragePool"):
			for _, p := range model.AttrsOf(child).Get("pads").GetInts() {
				if p != 0 {
					return false
				}
			}
			countPad = true
		default:
			return false
		}
		if a := model.AttrsOf(child).Get("auto_pad"); a != nil && string(a.GetS()) != "NOTSET" {
			return false
		}
		sp := r - 2
		cur := model.AttrsOf(child).Get("pads").GetInts()
		if cur == nil {
			cur = make([]int64, 2*sp)
		}
		if len(cur) != 2*sp {
			return false
		}
		merged := make([]int64, 2*sp)
		for i := 0; i < sp; i++ {
			merged[i] = cur[i] + pads[2+i]
			merged[sp+i] = cur[sp+i] + pads[r+2+i]
		}
		setAttrInts(child, "pads", merged)
		if countPad {
			setAttrInt(child, "count_include_pad", 1)
		}
		src := input(pad, 0)
		g.removeNodes(pad)
		g.setInput(child, 0, src)
		return true
	},
}
