package eval

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/opset/opsettest"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// TestBackendNodeTests runs every kernel on ONNX's backend node tests of its
// operator (single-node models) and compares with the expected outputs. It is
// an external oracle: skipped where the test data is not installed.
func TestBackendNodeTests(t *testing.T) {
	nodeTestDir := opsettest.NeedBackend(t, "node")
	dirs, err := os.ReadDir(nodeTestDir)
	if err != nil {
		t.Fatal(err)
	}
	ran := 0
	for _, d := range dirs {
		dir := filepath.Join(nodeTestDir, d.Name())
		b, err := os.ReadFile(filepath.Join(dir, "model.onnx"))
		if err != nil {
			continue
		}
		mp := &onnxpb.ModelProto{}
		if err := proto.Unmarshal(b, mp); err != nil || len(mp.GetGraph().GetNode()) != 1 {
			continue
		}
		n := mp.GetGraph().GetNode()[0]
		opset := int64(0)
		for _, o := range mp.GetOpsetImport() {
			if o.GetDomain() == n.GetDomain() || o.GetDomain() == "ai.onnx" && n.GetDomain() == "" {
				opset = o.GetVersion()
			}
		}
		if _, ok := Lookup(n.GetDomain(), n.GetOpType(), opset); !ok {
			continue
		}
		ins, ok := readSet(t, dir, "input", len(mp.GetGraph().GetInput()))
		if !ok {
			continue
		}
		want, ok := readSet(t, dir, "output", len(mp.GetGraph().GetOutput()))
		if !ok {
			continue
		}
		// Inputs bind by graph input name; a node input "" stays absent.
		byName := map[string]*tensor.Tensor{}
		for i, vi := range mp.GetGraph().GetInput() {
			byName[vi.GetName()] = ins[i]
		}
		args := make([]*tensor.Tensor, len(n.GetInput()))
		for i, name := range n.GetInput() {
			args[i] = byName[name]
		}
		t.Run(d.Name(), func(t *testing.T) {
			if strings.Contains(d.Name(), "BFLOAT16") {
				t.Skip("ONNX 1.12's test data stores bfloat16 tensors as uint16")
			}
			got, err := Run(n, opset, args)
			if err != nil {
				if errors.Is(err, ErrUnsupportedInput) {
					t.Skipf("kernel declines: %v", err)
				}
				t.Fatalf("%v", err)
			}
			for i, w := range want {
				if i >= len(got) || n.GetOutput()[i] == "" {
					continue
				}
				if msg := diff(got[i], w); msg != "" {
					t.Errorf("output %d: %s", i, msg)
				}
			}
		})
		ran++
	}
	if ran < 100 {
		t.Errorf("only %d node tests ran; expected the kernels to cover at least 100", ran)
	}
}

func readSet(t *testing.T, dir, kind string, n int) ([]*tensor.Tensor, bool) {
	var out []*tensor.Tensor
	for i := 0; i < n; i++ {
		b, err := os.ReadFile(filepath.Join(dir, "test_data_set_0", kind+"_"+itoa(i)+".pb"))
		if err != nil {
			return nil, false
		}
		tp := &onnxpb.TensorProto{}
		if err := proto.Unmarshal(b, tp); err != nil {
			return nil, false
		}
		v, err := tensor.Decode(tp, nil)
		if err != nil {
			return nil, false
		}
		out = append(out, v)
	}
	return out, true
}

func itoa(i int) string { return strconv.Itoa(i) }

// diff describes how got differs from want, or returns "".
func diff(got, want *tensor.Tensor) string {
	if got.DType != want.DType {
		return "type " + got.DType.String() + ", want " + want.DType.String()
	}
	if len(got.Dims) != len(want.Dims) {
		return "rank differs"
	}
	for i := range got.Dims {
		if got.Dims[i] != want.Dims[i] {
			return "dims differ"
		}
	}
	for i := 0; i < int(want.Len()); i++ {
		switch {
		case want.Str != nil:
			if string(got.Str[i]) != string(want.Str[i]) {
				return "strings differ"
			}
		case want.I64 != nil:
			if got.I64[i] != want.I64[i] {
				return "value differs at element " + itoa(i)
			}
		default:
			g, w := got.Float64At(i), want.Float64At(i)
			if math.IsNaN(w) && math.IsNaN(g) {
				continue
			}
			if math.Abs(g-w) > 1e-4+1e-4*math.Abs(w) {
				return "value differs at element " + itoa(i)
			}
		}
	}
	return ""
}
