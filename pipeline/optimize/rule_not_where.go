package optimize

import onnxpb "github.com/quantprep/quantprep/api/onnx"

// fuseNotWhere rewrites Where(Not(c), x, y) as Where(c, y, x) and removes the
// Not. Safe when every reader of the Not's output is the condition input of
// a Where (none a graph output or subgraph), since all of them are
// rewritten the same way.
var fuseNotWhere = rule{
	name: "NotWhereFusion",
	ops:  []string{"Where"},
	apply: func(g *graph, where *onnxpb.NodeProto) bool {
		cond := input(where, 0)
		not := g.producerOf(cond)
		if !isOp(not, "Not") || len(not.GetInput()) != 1 || g.isGraphOutput(cond) || g.usedBySubgraph(cond) {
			return false
		}
		users := g.consumersOf(cond)
		for _, u := range users {
			if !isOp(u, "Where") || len(u.GetInput()) != 3 || u.Input[1] == cond || u.Input[2] == cond {
				return false
			}
		}
		src := not.GetInput()[0]
		g.removeNodes(not)
		for _, u := range append([]*onnxpb.NodeProto{}, users...) {
			g.setInputs(u, src, u.Input[2], u.Input[1])
		}
		return true
	},
}
