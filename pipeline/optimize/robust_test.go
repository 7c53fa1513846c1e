package optimize

import (
	"context"
	"fmt"
	"testing"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/model"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// TestMalformedNodes gives every operator a rule or pass looks at nodes with
// too few or too many inputs and outputs, fed by constants or by a graph
// input, before and after nodes of every other such operator. Run may
// return an error but must not panic.
func TestMalformedNodes(t *testing.T) {
	ops := map[string]bool{"Conv": true, "Erf": true, "ReduceMean": true, "Pow": true, "Sqrt": true}
	for _, ru := range rules {
		for _, op := range ru.ops {
			ops[op] = true
		}
	}
	for _, op := range []string{"MatMul", "Add", "Sum", "BatchNormalization", "Transpose", "Reshape", "Gemm", "Not", "Where", "Clip", "Relu", "Shape", "Constant"} {
		ops[op] = true
	}
	for op := range ops {
		for _, nin := range []int{0, 1, 2, 3, 5} {
			for _, nout := range []int{0, 1, 2} {
				for _, constIn := range []bool{false, true} {
					name := fmt.Sprintf("%s/in%d/out%d/const%v", op, nin, nout, constIn)
					t.Run(name, func(t *testing.T) {
						defer func() {
							if p := recover(); p != nil {
								t.Fatalf("panic: %v", p)
							}
						}()
						m := malformed(op, nin, nout, constIn)
						_, _ = Run(context.Background(), m, Config{})
					})
				}
			}
		}
	}
}

// malformed builds x -> Relu -> op(inputs) -> Relu -> graph outputs.
func malformed(op string, nin, nout int, constIn bool) *model.Model {
	f := int32(tensor.Float)
	vi := func(name string) *onnxpb.ValueInfoProto {
		return &onnxpb.ValueInfoProto{Name: &name, Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: &f}}}}
	}
	relu := "Relu"
	g := &onnxpb.GraphProto{Input: []*onnxpb.ValueInfoProto{vi("x")}}
	g.Node = append(g.Node, &onnxpb.NodeProto{OpType: &relu, Input: []string{"x"}, Output: []string{"r"}})
	var ins []string
	for i := 0; i < nin; i++ {
		if constIn {
			name := fmt.Sprintf("c%d", i)
			g.Initializer = append(g.Initializer, tensor.FromFloat32s([]int64{1}, []float32{1}).Proto(name))
			ins = append(ins, name)
		} else {
			ins = append(ins, "r")
		}
	}
	var outs []string
	for i := 0; i < nout; i++ {
		outs = append(outs, fmt.Sprintf("o%d", i))
	}
	opName := op
	g.Node = append(g.Node, &onnxpb.NodeProto{OpType: &opName, Input: ins, Output: outs})
	for i, o := range outs {
		y := fmt.Sprintf("y%d", i)
		g.Node = append(g.Node, &onnxpb.NodeProto{OpType: &relu, Input: []string{o}, Output: []string{y}})
		g.Output = append(g.Output, vi(y))
	}
	if nout == 0 {
		g.Output = append(g.Output, vi("r"))
	}
	ir, v := int64(8), int64(17)
	return &model.Model{Proto: &onnxpb.ModelProto{IrVersion: &ir, Graph: g, OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: &v}}}}
}

// TestMalformedPairs chains two such operators, the second reading the
// first's output in every input, so that fusions see malformed neighbours.
func TestMalformedPairs(t *testing.T) {
	ops := map[string]bool{"Conv": true, "Erf": true, "ReduceMean": true, "Pow": true, "Sqrt": true,
		"MatMul": true, "Add": true, "Sum": true, "BatchNormalization": true, "Transpose": true, "Reshape": true,
		"Gemm": true, "Not": true, "Where": true, "Clip": true, "Relu": true, "Shape": true, "Mul": true, "Div": true,
		"Sub": true, "Pad": true, "Cast": true, "Identity": true, "Dropout": true, "Unsqueeze": true, "Slice": true, "Expand": true}
	f := int32(tensor.Float)
	vi := func(name string) *onnxpb.ValueInfoProto {
		return &onnxpb.ValueInfoProto{Name: &name, Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: &f}}}}
	}
	count := 0
	for a := range ops {
		for b := range ops {
			for _, nin := range []int{1, 2, 3, 5} {
				for _, consts := range []bool{false, true} {
					count++
					opA, opB := a, b
					var inits []*onnxpb.TensorProto
					arg := func(first string, i int) string {
						if i == 0 || !consts {
							return first
						}
						name := fmt.Sprintf("c%d", len(inits))
						inits = append(inits, tensor.FromFloat32s([]int64{1}, []float32{float32(i)}).Proto(name))
						return name
					}
					ins := make([]string, nin)
					insB := make([]string, nin)
					for i := range ins {
						ins[i] = arg("x", i)
						insB[i] = arg("a", i)
					}
					g := &onnxpb.GraphProto{Input: []*onnxpb.ValueInfoProto{vi("x")}, Output: []*onnxpb.ValueInfoProto{vi("y")}, Initializer: inits,
						Node: []*onnxpb.NodeProto{{OpType: &opA, Input: ins, Output: []string{"a"}}, {OpType: &opB, Input: insB, Output: []string{"y"}}}}
					ir, v := int64(8), int64(17)
					m := &model.Model{Proto: &onnxpb.ModelProto{IrVersion: &ir, Graph: g, OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: &v}}}}
					func() {
						defer func() {
							if p := recover(); p != nil {
								t.Errorf("%s(%d inputs) -> %s: panic: %v", opA, nin, opB, p)
							}
						}()
						_, _ = Run(context.Background(), m, Config{})
					}()
				}
			}
		}
	}
	if count == 0 {
		t.Fatal("no cases")
	}
}
