package optimize

import onnxpb "github.com/quantprep/quantprep/api/onnx"

// eliminateExpand removes an Expand whose constant target shape does not grow
// its input: the shape has at most the input's rank and each of its dims is 1
// or equal to the input's known dim. Safe because the output then equals the
// input; the input's shape must be known from value_info or an initializer.
var eliminateExpand = rule{
	name: "ExpandElimination",
	ops:  []string{"Expand"},
	apply: func(g *graph, n *onnxpb.NodeProto) bool {
		if len(n.GetOutput()) != 1 {
			return false
		}
		shape, ok := constInts(g, input(n, 1))
		if !ok {
			return false
		}
		dims, ok := g.shape(input(n, 0))
		if !ok || len(shape) > len(dims) {
			return false
		}
		off := len(dims) - len(shape)
		for i, s := range shape {
			if s != 1 && (dims[off+i] < 0 || s != dims[off+i]) {
				return false
			}
		}
		return g.bypass(n, input(n, 0), n.GetOutput()[0])
	},
}
