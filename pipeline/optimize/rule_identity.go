package optimize

import onnxpb "github.com/quantprep/quantprep/api/onnx"

// eliminateIdentity removes Identity nodes: consumers read the Identity's input
// instead. Safe because Identity passes its input through unchanged. When the
// output is a graph output, the input's producer is renamed to produce it
// instead (the input must have no other reader and not be a graph output
// itself); an Identity between a graph input or initializer and a graph
// output stays, as does one whose output a subgraph reads.
var eliminateIdentity = rule{
	name: "EliminateIdentity",
	ops:  []string{"Identity"},
	apply: func(g *graph, n *onnxpb.NodeProto) bool {
		if len(n.GetInput()) != 1 || len(n.GetOutput()) != 1 {
			return false
		}
		return g.bypass(n, n.GetInput()[0], n.GetOutput()[0])
	},
}
