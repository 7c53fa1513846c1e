package optimize

import (
	"errors"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/eval"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// foldConstants ("ConstantFolding") computes every node whose inputs are all
// constants (initializers that are not graph inputs; Constant nodes are
// initializers by now) and replaces it by initializers named as its outputs,
// so consumers need no rewiring. A Shape node is folded when value_info (or
// an initializer) gives its input's full static shape, whatever that input's
// value. Then the nodes that fed only the folded node, through single-output
// chains, are removed, as ONNX Runtime does.
//
// It is safe because a node's outputs depend on its inputs only. It skips, as
// ONNX Runtime does: nodes of other domains, nondeterministic operators,
// nodes with subgraphs, DequantizeLinear (to keep QDQ units for the
// quantizer), and nodes without a kernel in pipeline/eval or whose kernel
// rejects the inputs. It also skips nodes that produce a graph output, so
// every graph output keeps a producing node and its name.
func foldConstants(g *graph, r *run) error {
	var n64 int64
	for _, n := range append([]*onnxpb.NodeProto{}, g.nodes()...) {
		if err := r.ctx.Err(); err != nil {
			return err
		}
		if g.removed[n] || !foldable(g, n) {
			continue
		}
		var outs []*tensor.Tensor
		if isOp(n, "Shape") {
			dims, ok := g.staticShape(input(n, 0))
			if !ok {
				continue
			}
			in := &tensor.Tensor{DType: tensor.Float, Dims: dims}
			var err error
			if outs, err = eval.Run(n, g.opset, []*tensor.Tensor{in}); err != nil {
				continue
			}
		} else {
			// All inputs must be constants before any is decoded: a Gather
			// of an embedding by token ids must not read the embedding.
			ok := true
			for _, name := range n.GetInput() {
				if name != "" && g.initializer(name) == nil {
					ok = false
					break
				}
			}
			if !ok {
				continue
			}
			ins := make([]*tensor.Tensor, len(n.GetInput()))
			for i, name := range n.GetInput() {
				if name == "" {
					continue
				}
				if ins[i] = g.constant(name); ins[i] == nil {
					ok = false
					break
				}
			}
			if !ok {
				g.release(n.GetInput())
				continue
			}
			var err error
			outs, err = eval.Run(n, g.opset, ins)
			g.release(n.GetInput())
			if err != nil {
				if !errors.Is(err, eval.ErrNoKernel) && !errors.Is(err, eval.ErrUnsupportedInput) {
					r.warn("constant folding skipped %s: %v", nodeDesc(n), err)
				}
				continue
			}
		}
		if len(outs) < len(n.GetOutput()) {
			continue
		}
		for i, name := range n.GetOutput() {
			if name != "" {
				g.addInitializer(name, outs[i])
			}
		}
		inputs := n.GetInput()
		g.removeNodes(n)
		removeDeadChains(g, inputs)
		g.release(inputs)
		g.dropUnused(inputs)
		n64++
	}
	r.count("ConstantFolding", n64)
	return nil
}

// nondeterministic operators give a different value on every run.
var nondeterministic = map[string]bool{
	"RandomUniform": true, "RandomNormal": true, "RandomUniformLike": true,
	"RandomNormalLike": true, "Multinomial": true, "Bernoulli": true,
}

func foldable(g *graph, n *onnxpb.NodeProto) bool {
	if n.GetDomain() != "" && n.GetDomain() != "ai.onnx" || nondeterministic[n.GetOpType()] ||
		n.GetOpType() == "DequantizeLinear" || g.producesGraphOutput(n) {
		return false
	}
	for _, a := range n.GetAttribute() {
		if len(subgraphs(a)) > 0 {
			return false
		}
	}
	return true
}

// removeDeadChains removes the producers of names whose single output nothing
// reads any more, and so on upward.
func removeDeadChains(g *graph, names []string) {
	for _, name := range names {
		p := g.producerOf(name)
		if p == nil || len(p.GetOutput()) != 1 || len(g.consumersOf(name)) > 0 || g.isGraphOutput(name) || g.usedBySubgraph(name) {
			continue
		}
		inputs := p.GetInput()
		g.removeNodes(p)
		removeDeadChains(g, inputs)
	}
}
