// Package eval computes the values of ONNX operators on constant tensors, for
// constant folding. Its table is a pipeline/opset registry, as shape
// inference's is: a kernel row per version where an operator's form changes,
// an "unchanged since" marker at the other versions where ONNX changed it,
// grouped in files by family (the same families as infer's). An operator
// without a row simply cannot be folded: callers skip it.
package eval

import (
	"fmt"
	"sort"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/model"
	"github.com/quantprep/quantprep/pipeline/opset"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// Ctx is what a kernel sees: its inputs (nil for an omitted optional input),
// the node's attributes, how many outputs the node declares and the opset.
type Ctx struct {
	In         []*tensor.Tensor
	Attrs      Attrs
	NumOutputs int
	Opset      int64
	// Budget bounds the bytes a kernel may allocate (see Budget).
	Budget Budget
}

// Input returns input i, or nil if it is absent.
func (c *Ctx) Input(i int) *tensor.Tensor {
	if i < len(c.In) {
		return c.In[i]
	}
	return nil
}

// Kernel computes a node's outputs.
type Kernel func(c *Ctx) ([]*tensor.Tensor, error)

// Op is one row of the folding table: a kernel from opset Since on, or an
// "unchanged since" marker (see pipeline/opset).
type Op = opset.Row[Kernel]

// families lists every family's rows once; each lives in the file named
// after the family, as in infer.
var families = [][]Op{elementwiseOps, logicOps, shapeOps, movementOps, generatorOps, matmulOps, convPoolOps, normOps, reduceOps}

var registry = opset.MustNew(families...)

// forms returns one kernel row per version of since, each running k with the
// row's version as form (see opset.Forms).
func forms(name string, k func(c *Ctx, form int64) ([]*tensor.Tensor, error), since ...int64) []Op {
	return opset.Forms("", name, func(v int64) Kernel {
		return func(c *Ctx) ([]*tensor.Tensor, error) { return k(c, v) }
	}, since...)
}

// same returns "unchanged since" markers: ONNX changed name's schema at each
// version of since, and the kernel of the row before holds, for reason.
func same(name, reason string, since ...int64) []Op {
	return opset.Same[Kernel]("", name, reason, since...)
}

// Lookup returns the kernel of domain.name at the given opset, by the
// registry's one rule (pipeline/opset).
func Lookup(domain, name string, version int64) (Kernel, bool) {
	op, ok := registry.Lookup(domain, name, version)
	return op.Rule, ok
}

// Run evaluates one node on its constant inputs. A kernel that panics on
// inputs it should have rejected (a bug) yields an error, so that folding
// skips the node instead of taking the process down.
func Run(n *onnxpb.NodeProto, opset int64, in []*tensor.Tensor) (out []*tensor.Tensor, err error) {
	return RunBudget(n, opset, in, Budget{})
}

// RunBudget is Run under a budget: a node whose outputs or working tables
// would take more than b allows fails with an error wrapping ErrOverBudget,
// before anything that size is allocated.
func RunBudget(n *onnxpb.NodeProto, opset int64, in []*tensor.Tensor, b Budget) (out []*tensor.Tensor, err error) {
	opset = model.OpsetVersion(n.GetDomain(), opset)
	k, ok := Lookup(n.GetDomain(), n.GetOpType(), opset)
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNoKernel, n.GetOpType())
	}
	if err := checkInputs(in); err != nil {
		return nil, fmt.Errorf("node %q (%s): %w", n.GetName(), n.GetOpType(), err)
	}
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, fmt.Errorf("node %q (%s): %w: kernel panicked (a bug): %v", n.GetName(), n.GetOpType(), model.ErrInternal, p)
		}
	}()
	out, err = k(&Ctx{In: in, Attrs: Attrs(n.GetAttribute()), NumOutputs: len(n.GetOutput()), Opset: opset, Budget: b})
	if err != nil {
		return nil, fmt.Errorf("node %q (%s): %w", n.GetName(), n.GetOpType(), err)
	}
	return out, nil
}

// Ops lists the operators that have a kernel (ai.onnx names), sorted: the
// operators constant folding knows.
func Ops() []string {
	var names []string
	for _, k := range registry.Ops() {
		names = append(names, k.Name)
	}
	sort.Strings(names)
	return names
}

// The reasons of the "unchanged since" markers that many operators share; a
// marker for one operator's change says it in its own words.
const (
	whyTypes    = "element types only: the kernel computes by value and refuses a type it cannot decode"
	whyNewTypes = "new element types only: float8 (19, 20), int4 (21), float4 (23), float8e8m0 (24) and int2 (25) do not decode, so the kernel refuses them; bfloat16 (22) it computes as it does float16"
	whyDoc      = "its text only: the same attributes, inputs, outputs and types"
	whyNegAxes  = "negative axes allowed: the kernel normalizes axes at every version"
	whyLater    = "a version after ONNX 1.12 (from the hand-written table): its change, by ONNX's notes, does not touch what the kernel computes"
)
