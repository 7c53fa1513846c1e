package optimize

import (
	"context"
	"os"
	"testing"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/model"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// transposeModel is y = MatMul(x, Transpose(w)) with w of rows x cols floats,
// as torch exports a Linear layer without constant folding.
func transposeModel(rows, cols int64) *model.Model {
	s := func(v string) *string { return &v }
	f := int32(tensor.Float)
	vals := make([]float32, rows*cols)
	for i := range vals {
		vals[i] = float32(i % 977)
	}
	x := &onnxpb.ValueInfoProto{Name: s("x"), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{ElemType: &f}}}}
	y := &onnxpb.ValueInfoProto{Name: s("y"), Type: x.Type}
	g := &onnxpb.GraphProto{Name: s("g"), Input: []*onnxpb.ValueInfoProto{x}, Output: []*onnxpb.ValueInfoProto{y},
		Initializer: []*onnxpb.TensorProto{tensor.FromFloat32s([]int64{rows, cols}, vals).Proto("w")},
		Node: []*onnxpb.NodeProto{
			{OpType: s("Transpose"), Name: s("t"), Input: []string{"w"}, Output: []string{"wt"}},
			{OpType: s("MatMul"), Name: s("mm"), Input: []string{"x", "wt"}, Output: []string{"y"}},
		}}
	ir, v := int64(8), int64(17)
	return &model.Model{Proto: &onnxpb.ModelProto{IrVersion: &ir, Graph: g, OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: &v}}}}
}

// TestFoldSpill checks that a large folded weight leaves memory for a spill
// file when the model allows it, stays inline when it does not, and has the
// transposed values either way; small ones always stay inline.
func TestFoldSpill(t *testing.T) {
	for _, tt := range []struct {
		name       string
		rows, cols int64
		spill      bool
		external   bool
	}{
		{"large, spill enabled", 1024, 512, true, true},
		{"large, spill disabled", 1024, 512, false, false},
		{"small, spill enabled", 16, 8, true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := transposeModel(tt.rows, tt.cols)
			root := t.TempDir()
			if tt.spill {
				m.EnableSpill(root)
			}
			defer m.Close()
			if _, err := Run(context.Background(), m, Config{}); err != nil {
				t.Fatal(err)
			}
			var wt *onnxpb.TensorProto
			for _, tp := range m.Graph().GetInitializer() {
				if tp.GetName() == "wt" {
					wt = tp
				}
			}
			if wt == nil || m.NodeCount() != 1 {
				t.Fatalf("Transpose not folded: %d nodes, initializer wt %v", m.NodeCount(), wt != nil)
			}
			if model.IsExternal(wt) != tt.external {
				t.Errorf("folded weight external = %v, want %v", model.IsExternal(wt), tt.external)
			}
			v, err := m.Tensor(wt)
			if err != nil {
				t.Fatal(err)
			}
			if v.Dims[0] != tt.cols || v.Dims[1] != tt.rows {
				t.Fatalf("dims %v", v.Dims)
			}
			for _, ij := range [][2]int64{{0, 1}, {3, 7}, {tt.cols - 1, tt.rows - 1}} {
				i, j := ij[0], ij[1]
				if got, want := v.F32[i*tt.rows+j], float32((j*tt.cols+i)%977); got != want {
					t.Errorf("wt[%d,%d] = %v, want %v", i, j, got, want)
				}
			}
			m.Close()
			if left, _ := os.ReadDir(root); len(left) != 0 {
				t.Errorf("Close left %d entries", len(left))
			}
		})
	}
}

// TestFoldDropsInputs checks that constant folding removes a weight it has
// transposed as soon as nothing reads it, within the pass, and forgets its
// decoded value, while a weight that something else still reads stays (small
// ones stay decoded, for the next fold that reads them).
func TestFoldDropsInputs(t *testing.T) {
	for _, shared := range []bool{false, true} {
		m := transposeModel(64, 32)
		gp := m.Graph()
		if shared {
			// A second reader of w: it must survive the fold.
			s := func(v string) *string { return &v }
			gp.Node = append(gp.Node, &onnxpb.NodeProto{OpType: s("Identity"), Name: s("keep"), Input: []string{"w"}, Output: []string{"w2"}})
			gp.Output = append(gp.Output, &onnxpb.ValueInfoProto{Name: s("w2")})
		}
		g := newGraph(m)
		r := &run{ctx: context.Background(), disabled: map[string]bool{}, warned: map[string]bool{}, pass: "ConstantFolding",
			res: &Result{Rewrites: map[string]int64{}}}
		if err := foldConstants(g, r); err != nil {
			t.Fatal(err)
		}
		if r.res.Rewrites["ConstantFolding"] != 1 {
			t.Fatalf("shared=%v: %d folds, want 1", shared, r.res.Rewrites["ConstantFolding"])
		}
		var names []string
		for _, tp := range gp.GetInitializer() {
			names = append(names, tp.GetName())
		}
		hasW := g.initializer("w") != nil
		if hasW != shared {
			t.Errorf("shared=%v: after the pass initializers are %v", shared, names)
		}
		for tp := range g.values {
			if tp.GetName() == "w" && !shared {
				t.Errorf("shared=%v: the decoded value of w is still held", shared)
			}
		}
	}
}
