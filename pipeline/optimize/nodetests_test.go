package optimize

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"google.golang.org/protobuf/proto"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/model"
	"github.com/quantprep/quantprep/pipeline/opset/opsettest"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// TestBackendNodeModels optimizes every model of ONNX's backend node tests
// (932 small models, many with Constant nodes, subgraphs, sequences and
// optional values): the optimizer must not fail on a valid model, must leave
// a graph that passes its checks, must change nothing on a second run, and
// wherever the reference interpreter runs the model, on the test's own
// inputs, the outputs must keep their values. Skipped where the test data is
// not installed.
func TestBackendNodeModels(t *testing.T) {
	nodeTestDir := opsettest.NeedBackend(t, "node")
	dirs, err := os.ReadDir(nodeTestDir)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, d := range dirs {
		dir := filepath.Join(nodeTestDir, d.Name())
		m, err := model.Load(filepath.Join(dir, "model.onnx"))
		if err != nil {
			continue
		}
		t.Run(d.Name(), func(t *testing.T) {
			orig := &model.Model{Proto: proto.Clone(m.Proto).(*onnxpb.ModelProto), Dir: m.Dir}
			if _, err := Run(context.Background(), m, Config{}); err != nil {
				t.Fatalf("optimize: %v", err)
			}
			res, err := Run(context.Background(), m, Config{})
			if err != nil {
				t.Fatalf("second run: %v", err)
			}
			if len(res.Rewrites) != 0 {
				t.Errorf("second run rewrote %v", res.Rewrites)
			}
			in, ok := nodeTestInputs(orig, dir)
			if !ok {
				return
			}
			want, err := interpret(orig, in)
			if err != nil {
				return
			}
			got, err := interpret(m, in)
			if err != nil {
				if errors.Is(err, errNoInterp) {
					return
				}
				t.Fatalf("optimized model does not run: %v", err)
			}
			for name, w := range want {
				if msg := tensorDiff(got[name], w); msg != "" {
					t.Errorf("output %q changed: %s", name, msg)
				}
			}
			checked++
		})
	}
	t.Logf("values checked on %d of %d models", checked, len(dirs))
	if checked < 100 {
		t.Errorf("values checked on only %d models", checked)
	}
}

// nodeTestInputs reads test_data_set_0's inputs, bound to the graph inputs
// that are not initializers, in order.
func nodeTestInputs(m *model.Model, dir string) (map[string]*tensor.Tensor, bool) {
	inits := map[string]bool{}
	for _, t := range m.Graph().GetInitializer() {
		inits[t.GetName()] = true
	}
	in := map[string]*tensor.Tensor{}
	i := 0
	for _, vi := range m.Graph().GetInput() {
		if inits[vi.GetName()] {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, "test_data_set_0", "input_"+itoa(i)+".pb"))
		i++
		if err != nil {
			return nil, false
		}
		tp := &onnxpb.TensorProto{}
		if proto.Unmarshal(b, tp) != nil {
			return nil, false
		}
		v, err := tensor.Decode(tp, nil)
		if err != nil {
			return nil, false
		}
		in[vi.GetName()] = v
	}
	return in, true
}

func itoa(i int) string { return strconv.Itoa(i) }
