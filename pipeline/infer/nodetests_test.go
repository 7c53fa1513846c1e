package infer

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/model"
)

// nodeTestDir holds ONNX's backend node tests (Debian's libonnx-testdata).
const nodeTestDir = "/usr/share/libonnx-testdata/data/node"

// TestBackendNodeTests runs both modes on every ONNX backend node test with
// the graph outputs' types cleared, and compares what is inferred with the
// shapes of the expected outputs: no shape may be wrong, and at least
// minExact cases must be inferred exactly. It skips when the test data is not
// installed, unless QUANTPREP_REQUIRE_ORACLES is set.
func TestBackendNodeTests(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	cases, _ := filepath.Glob(filepath.Join(nodeTestDir, "*", "model.onnx"))
	if len(cases) == 0 {
		if os.Getenv("QUANTPREP_REQUIRE_ORACLES") != "" {
			t.Fatalf("no backend node tests under %s", nodeTestDir)
		}
		t.Skipf("no backend node tests under %s (install libonnx-testdata)", nodeTestDir)
	}
	sort.Strings(cases)
	const minExact = 800
	for _, mode := range []Mode{ONNX, Symbolic} {
		t.Run(mode.String(), func(t *testing.T) {
			exact := 0
			for _, path := range cases {
				name := filepath.Base(filepath.Dir(path))
				m, err := model.Load(path)
				if err != nil {
					t.Errorf("%s: %v", name, err)
					continue
				}
				want := expectedDims(t, filepath.Dir(path))
				if want == nil {
					continue
				}
				for i, o := range m.Graph().GetOutput() {
					if o.GetType().GetTensorType() == nil && i < len(want) {
						want[i] = nil // a sequence, optional or map: not compared
					}
					o.Type = nil
				}
				m.Graph().ValueInfo = nil
				if _, err := Run(context.Background(), m, Config{Mode: mode}); err != nil {
					t.Errorf("%s: %v", name, err)
					continue
				}
				ok := true
				for i, o := range m.Graph().GetOutput() {
					if i >= len(want) || want[i] == nil {
						continue
					}
					got := typeFromProto(o.GetType())
					if got.Kind != KindTensor || !got.Ranked {
						ok = false
						continue
					}
					if len(got.Shape) != len(want[i]) {
						t.Errorf("%s: output %s: %v, want dims %v", name, o.GetName(), got, want[i])
						ok = false
						continue
					}
					for j, d := range got.Shape {
						v, known := d.Value()
						if !known {
							ok = false
						} else if v != want[i][j] {
							t.Errorf("%s: output %s: %v, want dims %v", name, o.GetName(), got, want[i])
							ok = false
						}
					}
				}
				if ok {
					exact++
				} else if os.Getenv("NODETEST_LOG") != "" {
					t.Logf("not exact: %s", name)
				}
			}
			t.Logf("%d of %d cases exact", exact, len(cases))
			if exact < minExact {
				t.Errorf("%d cases exact, want at least %d", exact, minExact)
			}
		})
	}
}

// expectedDims reads the dims of a case's expected outputs (nil for an
// output that is not a tensor); nil when the case has no test data.
func expectedDims(t *testing.T, dir string) [][]int64 {
	files, _ := filepath.Glob(filepath.Join(dir, "test_data_set_0", "output_*.pb"))
	if len(files) == 0 {
		return nil
	}
	sort.Slice(files, func(i, j int) bool { return outputIndex(files[i]) < outputIndex(files[j]) })
	out := make([][]int64, len(files))
	for i, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		tp := &onnxpb.TensorProto{}
		if proto.Unmarshal(b, tp) != nil || tp.GetDataType() == 0 {
			continue // a sequence, optional or map
		}
		out[i] = append([]int64{}, tp.GetDims()...)
	}
	return out
}

func outputIndex(path string) int {
	base := strings.TrimSuffix(filepath.Base(path), ".pb")
	n := 0
	for _, c := range base[strings.LastIndexByte(base, '_')+1:] {
		n = n*10 + int(c-'0')
	}
	return n
}
