package optimize

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/model"
)

// eliminateCommonSubexpressions ("CommonSubexpressionElimination") removes a
// node that computes what an earlier node computes: same domain, operator,
// attributes and inputs. Its readers read the earlier node's outputs
// instead. Safe for deterministic operators without subgraphs; a node
// whose output is a graph output or read by a subgraph stays, and so do
// DequantizeLinear nodes, which the quantizer wants one per QDQ group.
func eliminateCommonSubexpressions(g *graph, r *run) error {
	seen := map[string]*onnxpb.NodeProto{}
	var dups []*onnxpb.NodeProto
	for n := range g.walk() {
		if err := r.ctx.Err(); err != nil {
			return err
		}
		key, ok := cseKey(n)
		if !ok {
			continue
		}
		first, ok := seen[key]
		if !ok {
			seen[key] = n
			continue
		}
		if g.producesGraphOutput(n) || len(first.GetOutput()) != len(n.GetOutput()) {
			continue
		}
		safe := true
		for i, out := range n.GetOutput() {
			if out != "" && (g.usedBySubgraph(out) || first.GetOutput()[i] == "") {
				safe = false
			}
		}
		if !safe {
			continue
		}
		for i, out := range n.GetOutput() {
			if out != "" {
				g.replaceUses(out, first.GetOutput()[i])
			}
		}
		dups = append(dups, n)
	}
	if len(dups) > 0 {
		g.removeNodes(dups...)
	}
	r.rewrote(int64(len(dups)))
	return nil
}

// cseKey identifies what a node computes, or reports false for a node that
// must not be merged.
func cseKey(n *onnxpb.NodeProto) (string, bool) {
	// DequantizeLinear nodes stay apart so that each QDQ group keeps its own.
	if nondeterministic[n.GetOpType()] || len(n.GetOutput()) == 0 || isOp(n, "DequantizeLinear") {
		return "", false
	}
	var b strings.Builder
	b.WriteString(n.GetDomain())
	b.WriteByte('|')
	b.WriteString(n.GetOpType())
	for _, in := range n.GetInput() {
		fmt.Fprintf(&b, "|%d:%s", len(in), in)
	}
	b.WriteByte('#')
	for _, a := range n.GetAttribute() {
		if len(model.Subgraphs(a)) > 0 || a.GetRefAttrName() != "" {
			return "", false
		}
		enc, err := proto.MarshalOptions{Deterministic: true}.Marshal(a)
		if err != nil {
			return "", false
		}
		b.Write(enc)
		b.WriteByte(0)
	}
	return b.String(), true
}
