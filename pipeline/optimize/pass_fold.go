package optimize

import (
	"errors"
	"fmt"
	"math"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/eval"
	"github.com/quantprep/quantprep/pipeline/model"
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
// rejects the inputs. It also skips nodes that produce an output of the main
// graph, so the model's outputs keep a producing node. In a subgraph (If,
// Loop, Scan bodies) constants of the enclosing graphs are constants too, and
// a node producing the body's output folds into an initializer of that name,
// as in ONNX Runtime.
func foldConstants(g *graph, r *run) error {
	var n64 int64
	for n := range g.walk() {
		if err := r.ctx.Err(); err != nil {
			return err
		}
		if g.removed[n] || !foldable(g, n) {
			continue
		}
		var outs, ins []*tensor.Tensor
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
			// In a subgraph, a constant of an enclosing graph counts, as in
			// ONNX Runtime.
			ok := true
			for _, name := range n.GetInput() {
				if name != "" && g.initializer(name) == nil && g.outerOwner(name) == nil {
					ok = false
					break
				}
			}
			if !ok {
				continue
			}
			if done, err := foldMovement(g, n, r); err != nil {
				r.warn("constant folding skipped %s: %v", nodeDesc(n), err)
				continue
			} else if done {
				n64++
				continue
			}
			// Decoding widens narrow types (uint8 to int64): check what the
			// inputs take decoded before decoding them.
			if need := decodedBytes(g, n.GetInput()); need > max(r.foldMax(), 4*storedBytes(g, n.GetInput())) {
				r.warn("constant folding skipped %s: %v: its inputs would take %d bytes decoded", nodeDesc(n), eval.ErrOverBudget, need)
				continue
			}
			ins = make([]*tensor.Tensor, len(n.GetInput()))
			for i, name := range n.GetInput() {
				if name == "" {
					continue
				}
				if ins[i] = g.constant(name); ins[i] == nil {
					ins[i] = g.outerConstant(name)
				}
				if ins[i] == nil {
					ok = false
					break
				}
			}
			if !ok {
				g.release(n.GetInput())
				continue
			}
			var err error
			outs, err = eval.RunBudget(n, g.opset, ins, eval.Budget{MaxBytes: r.foldMax()})
			if err == nil {
				if err = r.chargeFold(g, n, ins, outs); err != nil {
					err = fmt.Errorf("%s: %w", nodeDesc(n), err)
				}
			}
			g.release(n.GetInput())
			if err != nil {
				// eval's errors name the node already.
				if !errors.Is(err, eval.ErrNoKernel) && !errors.Is(err, eval.ErrUnsupportedInput) {
					r.warn("constant folding skipped %v", err)
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
		r.creditFold(g, inputs, ins)
		n64++
	}
	r.rewrote(n64)
	return nil
}

// removeFolded removes a node whose outputs are initializers now, the
// chains that fed only it, and the inputs nothing reads any more.
func removeFolded(g *graph, n *onnxpb.NodeProto) {
	inputs := n.GetInput()
	g.removeNodes(n)
	removeDeadChains(g, inputs)
	g.release(inputs)
	g.dropUnused(inputs)
}

// DefaultMaxFoldTotalBytes is the default of Config.MaxFoldTotalBytes.
const DefaultMaxFoldTotalBytes = 512 << 20

func (r *run) foldMax() int64 {
	if r.cfg.MaxFoldBytes > 0 {
		return r.cfg.MaxFoldBytes
	}
	return eval.DefaultMaxBytes
}

// chargeFold counts the bytes a fold adds to the model against
// Config.MaxFoldTotalBytes: its outputs, less the inputs that the fold leaves
// unused (they are dropped; creditFold gives them back once they are). The
// total is what folding grew the model by, whatever the ops: a Transpose of
// a weight adds nothing, Concat(c, c) or Identity then Concat doubles c.
func (r *run) chargeFold(g *graph, n *onnxpb.NodeProto, ins, outs []*tensor.Tensor) error {
	var out, freed int64
	for _, t := range outs {
		if t != nil {
			out += eval.MemBytes(t)
		}
	}
	seen := map[string]bool{}
	for i, name := range n.GetInput() {
		if name == "" || seen[name] || ins[i] == nil {
			continue
		}
		seen[name] = true
		only := !g.isGraphOutput(name) && !g.usedBySubgraph(name)
		for _, c := range g.consumersOf(name) {
			only = only && c == n
		}
		if only {
			freed += eval.MemBytes(ins[i])
		}
	}
	lim := r.cfg.MaxFoldTotalBytes
	if lim <= 0 {
		lim = DefaultMaxFoldTotalBytes
	}
	if out-freed > 0 && r.foldGrown+out-freed > lim {
		return fmt.Errorf("%w: folding would grow the model by %d bytes more, over the run's %d (%d used)", eval.ErrOverBudget, out-freed, lim, r.foldGrown)
	}
	r.foldGrown += out
	return nil
}

// creditFold gives back the bytes of a folded node's inputs that are gone
// from the graph now.
func (r *run) creditFold(g *graph, names []string, ins []*tensor.Tensor) {
	seen := map[string]bool{}
	for i, name := range names {
		if name == "" || seen[name] || i >= len(ins) || ins[i] == nil {
			continue
		}
		seen[name] = true
		if g.initializer(name) == nil && !g.isGraphOutput(name) {
			r.foldGrown -= eval.MemBytes(ins[i])
		}
	}
}

// decodedBytes is the memory the constants among names take decoded, judged
// from their dims and types alone.
func decodedBytes(g *graph, names []string) int64 {
	var n int64
	for _, name := range names {
		tp := g.initializer(name)
		if tp == nil {
			continue
		}
		per := int64(8)
		switch d := tensor.DType(tp.GetDataType()); {
		case d == tensor.String:
			per = 24
		case d.IsFloat() && d != tensor.Double:
			per = 4
		}
		e := tensor.NumElements(tp.GetDims())
		if e < 0 || e > math.MaxInt64/32 {
			return math.MaxInt64
		}
		n += e * per
	}
	return n
}

// storedBytes is the bytes the constants among names take in the model.
func storedBytes(g *graph, names []string) int64 {
	var n int64
	for _, name := range names {
		if tp := g.initializer(name); tp != nil {
			if b := tensor.DType(tp.GetDataType()).RawSize(tensor.NumElements(tp.GetDims())); b > 0 && b < math.MaxInt64/8 {
				n += b
			}
		}
	}
	return n
}

// nondeterministic operators give a different value on every run.
var nondeterministic = map[string]bool{
	"RandomUniform": true, "RandomNormal": true, "RandomUniformLike": true,
	"RandomNormalLike": true, "Multinomial": true, "Bernoulli": true,
}

func foldable(g *graph, n *onnxpb.NodeProto) bool {
	if !model.IsDefaultDomain(n.GetDomain()) || nondeterministic[n.GetOpType()] ||
		n.GetOpType() == "DequantizeLinear" || g.parent == nil && g.producesGraphOutput(n) {
		return false
	}
	for _, a := range n.GetAttribute() {
		if len(model.Subgraphs(a)) > 0 {
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
