package optimize

import (
	"math"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/model"
)

// eliminateSlice removes a Slice that keeps every element: on each sliced
// axis it starts at 0, steps by 1 and ends at or past the end (at least
// INT32_MAX, or the axis's size when value_info gives it). Safe because its
// output then equals its input. Starts, ends, axes and steps must be
// constants (attributes before opset 10).
var eliminateSlice = rule{
	name: "EliminateSlice",
	ops:  []string{"Slice"},
	apply: func(g *graph, n *onnxpb.NodeProto) bool {
		if len(n.GetOutput()) != 1 {
			return false
		}
		var starts, ends, axes, steps []int64
		if g.opset >= 10 {
			var ok bool
			if starts, ok = constInts(g, input(n, 1)); !ok {
				return false
			}
			if ends, ok = constInts(g, input(n, 2)); !ok {
				return false
			}
			if a := input(n, 3); a != "" {
				if axes, ok = constInts(g, a); !ok {
					return false
				}
			}
			if s := input(n, 4); s != "" {
				if steps, ok = constInts(g, s); !ok {
					return false
				}
			}
		} else {
			starts = model.AttrsOf(n).Get("starts").GetInts()
			ends = model.AttrsOf(n).Get("ends").GetInts()
			axes = model.AttrsOf(n).Get("axes").GetInts()
		}
		if len(starts) != len(ends) || axes != nil && len(axes) != len(starts) || steps != nil && len(steps) != len(starts) {
			return false
		}
		dims, rankKnown := g.shape(input(n, 0))
		for i := range starts {
			if starts[i] != 0 || steps != nil && steps[i] != 1 {
				return false
			}
			if ends[i] >= math.MaxInt32 {
				continue
			}
			ax := int64(i)
			if axes != nil {
				ax = axes[i]
			}
			if !rankKnown {
				return false
			}
			if ax < 0 {
				ax += int64(len(dims))
			}
			if ax < 0 || ax >= int64(len(dims)) || dims[ax] < 0 || ends[i] < dims[ax] {
				return false
			}
		}
		return g.bypass(n, input(n, 0), n.GetOutput()[0])
	},
}

// constInts returns the values of a constant integer initializer.
func constInts(g *graph, name string) ([]int64, bool) {
	t := g.small(name, maxShapeElems)
	if t == nil || !t.DType.IsInt() {
		return nil, false
	}
	return t.I64, true
}
