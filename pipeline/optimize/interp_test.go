package optimize

import (
	"fmt"
	"math"
	"testing"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/eval"
	"github.com/quantprep/quantprep/pipeline/model"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// The tests check that a rewrite keeps a model's outputs by running the model
// before and after on the same seeded inputs with pipeline/eval's kernels as
// a reference interpreter.

// symbolicDims gives the value of each symbolic dim in test inputs; others are 3.
var symbolicDims = map[string]int64{"batch": 2, "sequence": 7, "N": 2}

// randomInputs makes seeded inputs for every graph input that is not an
// initializer: floats in [-1, 1), integers in {0, 1} (valid indices), bools.
func randomInputs(m *model.Model) (map[string]*tensor.Tensor, error) {
	seed := uint64(12345)
	next := func() float64 {
		seed = seed*6364136223846793005 + 1442695040888963407
		return float64(seed>>11) / (1 << 53)
	}
	inits := map[string]bool{}
	for _, t := range m.Graph().GetInitializer() {
		inits[t.GetName()] = true
	}
	in := map[string]*tensor.Tensor{}
	for _, vi := range m.Graph().GetInput() {
		if inits[vi.GetName()] {
			continue
		}
		tt := vi.GetType().GetTensorType()
		if tt == nil {
			return nil, fmt.Errorf("input %q is not a tensor", vi.GetName())
		}
		var dims []int64
		for _, d := range tt.GetShape().GetDim() {
			switch {
			case d.GetDimParam() != "":
				v, ok := symbolicDims[d.GetDimParam()]
				if !ok {
					v = 3
				}
				dims = append(dims, v)
			case d.GetDimValue() > 0:
				dims = append(dims, d.GetDimValue())
			default:
				dims = append(dims, 3)
			}
		}
		t := tensor.New(tensor.DType(tt.GetElemType()), dims)
		for i := range t.F32 {
			t.F32[i] = float32(2*next() - 1)
		}
		for i := range t.F64 {
			t.F64[i] = 2*next() - 1
		}
		for i := range t.I64 {
			t.I64[i] = int64(next() * 2)
		}
		in[vi.GetName()] = t
	}
	return in, nil
}

// errNoInterp marks a model the reference interpreter cannot run.
var errNoInterp = fmt.Errorf("not interpretable")

// interpret runs m's main graph on inputs and returns its outputs by name.
func interpret(m *model.Model, inputs map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
	vals, err := interpretAll(m, inputs)
	if err != nil {
		return nil, err
	}
	res := map[string]*tensor.Tensor{}
	for _, vi := range m.Graph().GetOutput() {
		v, ok := vals[vi.GetName()]
		if !ok {
			return nil, fmt.Errorf("output %q not computed", vi.GetName())
		}
		res[vi.GetName()] = v
	}
	return res, nil
}

// interpretAll runs m's main graph and returns every value it computes.
func interpretAll(m *model.Model, inputs map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
	vals := map[string]*tensor.Tensor{}
	for _, tp := range m.Graph().GetInitializer() {
		t, err := m.Tensor(tp)
		if err != nil {
			return nil, err
		}
		vals[tp.GetName()] = t
	}
	for k, v := range inputs {
		vals[k] = v
	}
	for _, n := range m.Graph().GetNode() {
		var args []*tensor.Tensor
		for _, name := range n.GetInput() {
			if name == "" {
				args = append(args, nil)
				continue
			}
			v, ok := vals[name]
			if !ok {
				return nil, fmt.Errorf("%s: input %q undefined", nodeDesc(n), name)
			}
			args = append(args, v)
		}
		var outs []*tensor.Tensor
		if isOp(n, "Constant") {
			t, err := constantNode(n)
			if err != nil {
				return nil, err
			}
			outs = []*tensor.Tensor{t}
		} else if isOp(n, "Dropout") {
			mask := tensor.New(tensor.Bool, args[0].Dims)
			for i := range mask.I64 {
				mask.I64[i] = 1
			}
			outs = []*tensor.Tensor{args[0], mask}
		} else {
			var err error
			outs, err = eval.Run(n, m.Opset(n.GetDomain()), args)
			if err != nil {
				return nil, fmt.Errorf("%w: %v", errNoInterp, err)
			}
		}
		for i, name := range n.GetOutput() {
			if name != "" && i < len(outs) {
				vals[name] = outs[i]
			}
		}
	}
	return vals, nil
}

func constantNode(n *onnxpb.NodeProto) (*tensor.Tensor, error) {
	if tp := model.AttrsOf(n).Get("value").GetT(); tp != nil {
		return tensor.Decode(tp, nil)
	}
	return constantValue(n)
}

// sameOutputs fails t unless before and after compute the same outputs (within
// float tolerance) on seeded inputs; it reports false, without failing, when
// the interpreter lacks a kernel for some node.
func sameOutputs(t *testing.T, before, after *model.Model) bool {
	t.Helper()
	in, err := randomInputs(before)
	if err != nil {
		t.Fatalf("inputs: %v", err)
	}
	want, err := interpret(before, in)
	if err != nil {
		t.Logf("original not interpretable, values unchecked: %v", err)
		return false
	}
	got, err := interpret(after, in)
	if err != nil {
		t.Fatalf("optimized model does not run: %v", err)
	}
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("output %q missing after optimization", name)
			continue
		}
		if msg := tensorDiff(g, w); msg != "" {
			t.Errorf("output %q changed: %s", name, msg)
		}
	}
	return true
}

func tensorDiff(got, want *tensor.Tensor) string {
	if got.DType != want.DType {
		return fmt.Sprintf("type %s, want %s", got.DType, want.DType)
	}
	if fmt.Sprint(got.Dims) != fmt.Sprint(want.Dims) {
		return fmt.Sprintf("dims %v, want %v", got.Dims, want.Dims)
	}
	for i := 0; i < int(want.Len()); i++ {
		if want.Str != nil {
			if string(got.Str[i]) != string(want.Str[i]) {
				return fmt.Sprintf("element %d differs", i)
			}
			continue
		}
		g, w := got.Float64At(i), want.Float64At(i)
		if math.IsNaN(g) && math.IsNaN(w) {
			continue
		}
		if math.Abs(g-w) > 1e-4+1e-3*math.Abs(w) {
			return fmt.Sprintf("element %d is %g, want %g", i, g, w)
		}
	}
	return ""
}
