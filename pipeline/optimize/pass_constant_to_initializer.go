package optimize

import (
	"google.golang.org/protobuf/proto"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/model"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// constantsToInitializers ("ConstantToInitializer") turns every Constant node
// of every graph into an initializer of the same name, as ONNX Runtime does
// when it loads a graph. It is safe because a Constant's output is fixed. A
// Constant whose output is an output of the main graph stays a node, so the
// model's outputs keep a producer; in a subgraph (an If branch returning a
// constant) it becomes an initializer as in ONNX Runtime, which runs such
// bodies as they are. Constants whose value is a sparse tensor stay.
func constantsToInitializers(g *graph, r *run) error {
	var done []*onnxpb.NodeProto
	for n := range g.walk() {
		if !isOp(n, "Constant") || len(n.GetOutput()) != 1 || g.parent == nil && g.isGraphOutput(n.GetOutput()[0]) {
			continue
		}
		if tp := model.AttrsOf(n).Get("value").GetT(); tp != nil {
			tp = proto.Clone(tp).(*onnxpb.TensorProto)
			name := n.GetOutput()[0]
			tp.Name = &name
			g.addInitializerProto(tp)
			done = append(done, n)
			continue
		}
		t, err := constantValue(n)
		if err != nil {
			r.warn("%s: not turned into an initializer: %v", nodeDesc(n), err)
			continue
		}
		if t == nil {
			continue
		}
		g.addInitializer(n.GetOutput()[0], t)
		done = append(done, n)
	}
	if len(done) > 0 {
		g.removeNodes(done...)
		r.rewrote(int64(len(done)))
	}
	return nil
}

// constantValue is the value of a Constant node given by a scalar or list
// attribute, or nil for a form it does not turn into a tensor (sparse_value).
func constantValue(n *onnxpb.NodeProto) (*tensor.Tensor, error) {
	for _, a := range n.GetAttribute() {
		switch a.GetName() {
		case "value_float":
			return tensor.FromFloat32s(nil, []float32{a.GetF()}), nil
		case "value_floats":
			return tensor.FromFloat32s([]int64{int64(len(a.GetFloats()))}, append([]float32{}, a.GetFloats()...)), nil
		case "value_int":
			return tensor.FromInt64s(nil, []int64{a.GetI()}), nil
		case "value_ints":
			return tensor.FromInt64s([]int64{int64(len(a.GetInts()))}, append([]int64{}, a.GetInts()...)), nil
		case "value_string":
			return &tensor.Tensor{DType: tensor.String, Str: [][]byte{a.GetS()}}, nil
		case "value_strings":
			return &tensor.Tensor{DType: tensor.String, Dims: []int64{int64(len(a.GetStrings()))}, Str: a.GetStrings()}, nil
		}
	}
	return nil, nil
}
