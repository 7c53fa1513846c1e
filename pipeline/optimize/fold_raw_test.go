package optimize

import (
	"context"
	"path/filepath"
	"testing"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/model"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// TestFoldMovementFromFiles folds Transpose then Reshape of a weight that
// is external data (mapped, not read) and of one inline in a mapped model
// file: the transposed weight is spilled, the reshaped one shares its bytes,
// and the values are the transpose's.
func TestFoldMovementFromFiles(t *testing.T) {
	const rows, cols = 300, 256
	for _, external := range []bool{true, false} {
		src := transposeModel(rows, cols)
		s := func(v string) *string { return &v }
		g := src.Graph()
		g.Node[1].Input[1] = "wr"
		g.Node = append(g.Node[:1], append([]*onnxpb.NodeProto{
			{OpType: s("Reshape"), Name: s("r"), Input: []string{"wt", "shape"}, Output: []string{"wr"}},
		}, g.Node[1:]...)...)
		g.Initializer = append(g.Initializer, tensor.FromInt64s([]int64{3}, []int64{cols, -1, 1}).Proto("shape"))
		dir := t.TempDir()
		p := filepath.Join(dir, "m.onnx")
		if _, err := src.Save(p, model.SaveOptions{ExternalData: external, AllTensorsToOneFile: true, SizeThreshold: 1024}); err != nil {
			t.Fatal(err)
		}
		m, err := model.Load(p)
		if err != nil {
			t.Fatal(err)
		}
		m.EnableSpill(t.TempDir())
		if _, err := Run(context.Background(), m, Config{}); err != nil {
			t.Fatal(err)
		}
		var wr *onnxpb.TensorProto
		for _, tp := range m.Graph().GetInitializer() {
			if tp.GetName() == "wr" {
				wr = tp
			}
		}
		if wr == nil || m.NodeCount() != 1 {
			t.Fatalf("external=%v: not folded: %d nodes", external, m.NodeCount())
		}
		if !model.IsExternal(wr) {
			t.Errorf("external=%v: the transposed weight was not spilled", external)
		}
		v, err := m.Tensor(wr)
		if err != nil {
			t.Fatal(err)
		}
		if len(v.Dims) != 3 || v.Dims[0] != cols || v.Dims[1] != rows || v.Dims[2] != 1 {
			t.Fatalf("dims %v", v.Dims)
		}
		for i := int64(0); i < cols; i++ {
			for j := int64(0); j < rows; j++ {
				if got, want := v.F32[i*rows+j], float32((j*cols+i)%977); got != want {
					t.Fatalf("external=%v: wr[%d,%d] = %v, want %v", external, i, j, got, want)
				}
			}
		}
		// The inline save streams the spilled weight back into the model.
		out := filepath.Join(t.TempDir(), "out.onnx")
		if _, err := m.Save(out, model.SaveOptions{}); err != nil {
			t.Fatal(err)
		}
		m.Close()
		back, err := model.Load(out)
		if err != nil {
			t.Fatal(err)
		}
		bv, err := back.Tensor(back.Graph().GetInitializer()[len(back.Graph().GetInitializer())-1])
		if err != nil || len(bv.F32) != rows*cols || bv.F32[rows+2] != float32((2*cols+1)%977) {
			t.Errorf("external=%v: saved model: %v", external, err)
		}
		back.Close()
	}
}

// TestFoldMovementBudget: a raw fold that grows the model (its input stays,
// read by another node) is charged to the run's fold budget like any fold,
// and skipped with a warning past it; one that replaces its input is free.
func TestFoldMovementBudget(t *testing.T) {
	for _, shared := range []bool{false, true} {
		m := transposeModel(512, 256) // 512 KiB of floats
		g := m.Graph()
		if shared {
			s := func(v string) *string { return &v }
			g.Node = append(g.Node, &onnxpb.NodeProto{OpType: s("MatMul"), Name: s("mm2"), Input: []string{"x", "w"}, Output: []string{"y2"}})
			g.Output = append(g.Output, &onnxpb.ValueInfoProto{Name: s("y2")})
		}
		res, err := Run(context.Background(), m, Config{MaxFoldTotalBytes: 256 << 10})
		if err != nil {
			t.Fatal(err)
		}
		folded := res.Rewrites["ConstantFolding"] == 1
		if folded == shared {
			t.Errorf("shared=%v: folded %v; warnings %v", shared, folded, res.Warnings)
		}
		if shared && len(res.Warnings) == 0 {
			t.Errorf("shared: no warning for the skipped fold")
		}
	}
}
