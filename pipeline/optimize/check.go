package optimize

import (
	"fmt"
	"slices"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/model"
)

// singleOutput are the operators that this package names (the rules and
// passes rewrite, fold or look through them, types.go types them), each with
// one output in every ONNX version (onnx 1.12's schemas: max_output 1;
// TestSingleOutputTable re-derives the list). The rules take a node's output
// 0 for its value; a node that declares more (ONNX Runtime refuses the model:
// "output size 2 not in range [min=1, max=1]") would lose its other outputs'
// producer to them, so check refuses it, as invalid input before the first
// pass.
var singleOutput = map[string]bool{
	"Abs": true, "Add": true, "And": true, "ArgMax": true, "ArgMin": true, "AveragePool": true,
	"Bernoulli": true, "Cast": true, "Ceil": true, "Clip": true, "Concat": true, "Constant": true,
	"ConstantOfShape": true, "Conv": true, "CumSum": true, "DequantizeLinear": true, "Div": true,
	"Einsum": true, "Equal": true, "Erf": true, "Exp": true, "Expand": true, "Flatten": true,
	"Floor": true, "Gather": true, "GatherElements": true, "GatherND": true, "Gemm": true,
	"Greater": true, "GreaterOrEqual": true, "Identity": true, "IsInf": true, "IsNaN": true,
	"Less": true, "LessOrEqual": true, "Log": true, "LogSoftmax": true, "MatMul": true, "Max": true,
	"Mean": true, "Min": true, "Mod": true, "Mul": true, "Multinomial": true, "Neg": true,
	"NonZero": true, "Not": true, "Or": true, "Pad": true, "Pow": true, "RandomNormal": true,
	"RandomNormalLike": true, "RandomUniform": true, "RandomUniformLike": true, "Range": true,
	"Reciprocal": true, "ReduceMax": true, "ReduceMean": true, "ReduceMin": true, "ReduceProd": true,
	"ReduceSum": true, "Relu": true, "Reshape": true, "Round": true, "Shape": true, "Sigmoid": true,
	"Sign": true, "Size": true, "Slice": true, "Softmax": true, "Sqrt": true, "Squeeze": true,
	"Sub": true, "Sum": true, "Tanh": true, "Tile": true, "Transpose": true, "Trilu": true,
	"Unsqueeze": true, "Where": true, "Xor": true,
}

// check verifies the invariants every pass must keep: nodes in topological
// order, every input defined (by a graph input, an initializer or an earlier
// node), every value defined once, every graph output defined, no value_info
// for a value that does not exist, and no node of a one-output operator with
// more (singleOutput).
func check(g *graph) error {
	g.compact()
	gp := g.g
	defined := map[string]bool{"": true}
	isDefined := func(name string) bool { return defined[name] || g.outerDefines(name) }
	for _, t := range gp.GetInitializer() {
		defined[t.GetName()] = true
	}
	for _, vi := range gp.GetInput() {
		defined[vi.GetName()] = true
	}
	for _, n := range gp.GetNode() {
		for _, in := range n.GetInput() {
			if !isDefined(in) {
				return fmt.Errorf("%s: input %q is not defined before it", nodeDesc(n), in)
			}
		}
		if singleOutput[n.GetOpType()] && model.IsDefaultDomain(n.GetDomain()) && len(n.GetOutput()) > 1 {
			return fmt.Errorf("%s has %d outputs (%q), where the operator has one", nodeDesc(n), len(n.GetOutput()), n.GetOutput())
		}
		for _, a := range n.GetAttribute() {
			for _, sg := range model.Subgraphs(a) {
				for _, ref := range g.outerRefs(sg) {
					if !isDefined(ref) {
						return fmt.Errorf("%s: subgraph reads %q, which is not defined before it", nodeDesc(n), ref)
					}
				}
			}
		}
		for _, out := range n.GetOutput() {
			if out == "" {
				continue
			}
			if defined[out] {
				return fmt.Errorf("%s: output %q is defined twice", nodeDesc(n), out)
			}
			defined[out] = true
		}
	}
	for _, vi := range gp.GetOutput() {
		if !isDefined(vi.GetName()) {
			return fmt.Errorf("graph output %q is not defined", vi.GetName())
		}
	}
	for _, vi := range gp.GetValueInfo() {
		if !isDefined(vi.GetName()) {
			return fmt.Errorf("value_info %q names no value", vi.GetName())
		}
	}
	return nil
}

// pruneValueInfo drops value_info of values that no longer exist.
func pruneValueInfo(g *graph) {
	g.index()
	g.g.ValueInfo = slices.DeleteFunc(g.g.ValueInfo, func(vi *onnxpb.ValueInfoProto) bool {
		name := vi.GetName()
		if g.producer[name] != nil || g.inits[name] != nil || g.inputs[name] {
			return false
		}
		if !g.outputs[name] {
			delete(g.info, name)
		}
		return true
	})
}

// removeUnusedInitializers drops initializers that nothing reads, as ONNX
// Runtime does when it resolves a graph. Initializers that are also graph
// inputs stay: they are part of the model's interface.
func removeUnusedInitializers(g *graph) {
	g.index()
	g.g.Initializer = slices.DeleteFunc(g.g.Initializer, func(t *onnxpb.TensorProto) bool {
		name := t.GetName()
		if len(g.consumers[name]) > 0 || g.outputs[name] || g.inputs[name] {
			return false
		}
		delete(g.inits, name)
		delete(g.values, t)
		return true
	})
	pruneValueInfo(g)
}
