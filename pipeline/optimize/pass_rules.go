package optimize

import (
	"fmt"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/model"
)

// applyRules ("Level1_RuleBasedTransformer") walks the nodes in order and
// tries each rule registered for a node's op type, in list order, until one
// removes the node. Safe because each rule is: it checks its own conditions
// and leaves the graph valid (its rule_*.go file says why), and a rule that
// panics stops the run (safeApply) before anything reads the graph.
func applyRules(g *graph, r *run) error {
	byOp := map[string][]rule{}
	for _, ru := range rules {
		if r.disabled[ru.name] {
			continue
		}
		for _, op := range ru.ops {
			byOp[op] = append(byOp[op], ru)
		}
	}
	for n := range g.walk() {
		if err := r.ctx.Err(); err != nil {
			return err
		}
		if !model.IsDefaultDomain(n.GetDomain()) {
			continue
		}
		for _, ru := range byOp[n.GetOpType()] {
			if g.removed[n] {
				break
			}
			changed, err := safeApply(ru, g, n)
			if err != nil {
				return err
			}
			if changed {
				r.count(ru.name, 1)
			}
		}
	}
	return nil
}

// safeApply applies one rule at n, turning a panic (a bug) into an error
// wrapping model.ErrInternal that names the rule, node and operator: the
// graph may be half rewritten, so the run stops there, and the process goes
// on.
func safeApply(ru rule, g *graph, n *onnxpb.NodeProto) (changed bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: rule %s panicked on %s (a bug): %v", model.ErrInternal, ru.name, nodeDesc(n), p)
		}
	}()
	return ru.apply(g, n), nil
}
