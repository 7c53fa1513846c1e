package optimize

import onnxpb "github.com/quantprep/quantprep/api/onnx"

// eliminatePreShapeNode removes a Cast whose output only Shape nodes read:
// the Shape nodes read the Cast's input instead. Safe because a Cast does not
// change its input's shape. The Cast's output must not be a graph output.
var eliminatePreShapeNode = rule{
	name: "PreShapeNodeElimination",
	ops:  []string{"Cast"},
	apply: func(g *graph, n *onnxpb.NodeProto) bool {
		out := outputAt(n, 0)
		if out == "" || len(n.GetOutput()) != 1 || g.isGraphOutput(out) || g.usedBySubgraph(out) {
			return false
		}
		users := g.consumersOf(out)
		if len(users) == 0 {
			return false
		}
		for _, u := range users {
			if !isOp(u, "Shape") {
				return false
			}
		}
		return g.bypass(n, input(n, 0), out)
	},
}
