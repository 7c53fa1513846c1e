package model

import (
	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// keepsWeights are operators whose constant inputs survive every rewrite of
// the pipeline once one of their other inputs varies at run time: no fold
// can compute them, and the fusions that rewrite them (MatMul+Add into Gemm,
// Conv+BatchNormalization, ...) keep a weight of the same size.
var keepsWeights = map[string]bool{
	"MatMul": true, "Gemm": true, "Conv": true, "ConvTranspose": true, "Gather": true,
	"LSTM": true, "GRU": true, "RNN": true, "MatMulInteger": true, "ConvInteger": true,
	"QLinearMatMul": true, "QLinearConv": true,
}

// sizePreserving are operators whose output holds their first input's bytes
// (reordered or not): a weight that reaches a keepsWeights node through a
// chain of them is kept, folded or not, at its full size.
var sizePreserving = map[string]bool{
	"Transpose": true, "Reshape": true, "Flatten": true, "Squeeze": true, "Unsqueeze": true, "Identity": true,
}

// InlineFloor returns a lower bound on the size of the model's main graph
// once the pipeline has run, whatever it rewrites: the bytes of the
// initializers that a live node certainly keeps (a MatMul, Conv, Gather, ...
// that reads a value varying at run time, directly or through a chain of
// Transposes and Reshapes). It reads no tensor data. When it exceeds
// MaxInlineSize, an inline save is certain to fail, and can be refused before
// any work is done.
func (m *Model) InlineFloor() int64 {
	g := m.Graph()
	if g == nil {
		return 0
	}
	x := NewIndex(g)
	nodes := g.GetNode()
	// Values that vary at run time: graph inputs without an initializer,
	// and what nodes compute from them. Shape and Size are left out: their
	// outputs may fold once shapes are known.
	varying := map[string]bool{}
	var todo []string
	for _, v := range g.GetInput() {
		if x.Initializer(v.GetName()) == nil {
			varying[v.GetName()] = true
			todo = append(todo, v.GetName())
		}
	}
	for len(todo) > 0 {
		name := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		for _, i := range x.Consumers(name) {
			n := nodes[i]
			if op := n.GetOpType(); op == "Shape" || op == "Size" {
				continue
			}
			for _, o := range n.GetOutput() {
				if o != "" && !varying[o] {
					varying[o] = true
					todo = append(todo, o)
				}
			}
		}
	}
	// Live nodes: those a graph output depends on. Subgraphs' reads count,
	// through the index; a read it misses only makes the bound smaller.
	live := map[int]bool{}
	var stack []int
	for _, v := range g.GetOutput() {
		if p := x.Producer(v.GetName()); p >= 0 && !live[p] {
			live[p] = true
			stack = append(stack, p)
		}
	}
	for len(stack) > 0 {
		n := nodes[stack[len(stack)-1]]
		stack = stack[:len(stack)-1]
		for _, in := range nodeDeps(n) {
			if p := x.Producer(in); p >= 0 && !live[p] {
				live[p] = true
				stack = append(stack, p)
			}
		}
	}
	kept := map[*onnxpb.TensorProto]bool{}
	var total int64
	for i, n := range nodes {
		if !live[i] || !IsDefaultDomain(n.GetDomain()) || !keepsWeights[n.GetOpType()] {
			continue
		}
		hasVarying := false
		for _, in := range n.GetInput() {
			hasVarying = hasVarying || varying[in]
		}
		if !hasVarying {
			continue
		}
		for _, in := range n.GetInput() {
			// Walk up a chain of size-preserving nodes to an initializer.
			for depth := 0; in != "" && depth < 64; depth++ {
				if tp := x.Initializer(in); tp != nil {
					if !x.IsInput(in) && !kept[tp] {
						kept[tp] = true
						if s := tensor.DType(tp.GetDataType()).RawSize(tensor.NumElements(tp.GetDims())); s > 0 {
							total += s
						}
					}
					break
				}
				p := x.Producer(in)
				if p < 0 || !sizePreserving[nodes[p].GetOpType()] || !IsDefaultDomain(nodes[p].GetDomain()) || varying[in] || len(nodes[p].GetInput()) == 0 {
					break
				}
				in = nodes[p].GetInput()[0]
			}
		}
	}
	return total
}
