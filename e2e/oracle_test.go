//go:build ortoracle

package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	ort "github.com/yalue/onnxruntime_go"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/model"
)

// Tolerances of the output comparison. A value is near zero when its magnitude
// is at most nearZero times the output's scale, max(1, largest |value| of that
// output); other values must agree within relTol relative difference, near-zero
// ones within absTol times the scale. Float32 rounding of a value grows with the
// terms it was summed from, not with the value, so a value that is small
// against its output (a logit near 0 among logits near 2) may legitimately move
// by a larger fraction of itself when an optimization reassociates the sums.
const (
	relTol   = 1e-4
	nearZero = 1e-3
	absTol   = 1e-4
)

// ortLibDefaults are where the project's .ci/run and the shared oracle setup
// put npm onnxruntime-node's CPU library, relative to $HOME.
var ortLibDefaults = []string{
	".cache/quantprep-oracles/node/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1",
	".cache/onnx-oracles/node/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1",
}

func requireOracles() bool { return os.Getenv("QUANTPREP_REQUIRE_ORACLES") == "1" }

// missingOracle skips the test, or fails it in CI (QUANTPREP_REQUIRE_ORACLES=1).
func missingOracle(t *testing.T, format string, a ...any) {
	t.Helper()
	msg := "oracle absent: " + fmt.Sprintf(format, a...)
	if requireOracles() {
		t.Fatal(msg + " (QUANTPREP_REQUIRE_ORACLES=1)")
	}
	t.Skip(msg)
}

var (
	ortOnce sync.Once
	ortErr  error
	ortLib  string
)

// needORT initializes ONNX Runtime once for the test binary.
func needORT(t *testing.T) {
	t.Helper()
	ortOnce.Do(func() {
		ortLib = os.Getenv("ONNXRUNTIME_LIB")
		if ortLib == "" {
			home, _ := os.UserHomeDir()
			for _, rel := range ortLibDefaults {
				p := filepath.Join(home, rel)
				if _, err := os.Stat(p); err == nil {
					ortLib = p
					break
				}
			}
			if ortLib == "" {
				ortErr = fmt.Errorf("no ONNX Runtime library: set ONNXRUNTIME_LIB or install npm onnxruntime-node 1.30.0 under ~/%s (.ci/run does)", ortLibDefaults[0])
				return
			}
		}
		if _, err := os.Stat(ortLib); err != nil {
			ortErr = fmt.Errorf("ONNX Runtime library: %w", err)
			return
		}
		ort.SetSharedLibraryPath(ortLib)
		if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
			ortErr = fmt.Errorf("ONNX Runtime library %s: %w", ortLib, err)
		}
	})
	if ortErr != nil {
		missingOracle(t, "%v", ortErr)
	}
}

// python is the interpreter that has onnx.
func python() string {
	if p := os.Getenv("QUANTPREP_PYTHON"); p != "" {
		return p
	}
	return "/usr/bin/python3"
}

var (
	pyOnce sync.Once
	pyErr  error
)

// needPythonONNX checks once that python() imports onnx.
func needPythonONNX(t *testing.T) {
	t.Helper()
	pyOnce.Do(func() {
		out, err := exec.Command(python(), "-c", "import onnx").CombinedOutput()
		if err != nil {
			pyErr = fmt.Errorf("%s cannot import onnx (install Debian's python3-onnx): %v: %s", python(), err, bytes.TrimSpace(out))
		}
	})
	if pyErr != nil {
		missingOracle(t, "%v", pyErr)
	}
}

// checkModel is onnx.checker twice: on the file (which resolves external data
// locations) and, with full_check (ONNX shape inference in strict mode, so that
// recorded shapes that contradict ONNX's own inference fail), on the loaded
// model. check_model(path, full_check=True) is not used: onnx 1.12 writes the
// inferred model back over the file, which would hide what quantprep wrote.
const checkModel = `import sys, onnx
onnx.checker.check_model(sys.argv[1])
onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)`

// onnxCheck runs onnx.checker on the model file (external data included) and
// makes sure the checker left the file as it was.
func onnxCheck(path string) error {
	before, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, err := exec.Command(python(), "-c", checkModel, path).CombinedOutput()
	if err != nil {
		return fmt.Errorf("onnx.checker: %v\n%s", err, out)
	}
	after, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if !bytes.Equal(before, after) {
		return errors.New("onnx.checker rewrote the model file")
	}
	return nil
}

// input is one model input's values.
type input struct {
	name  string
	elem  onnxpb.TensorProto_DataType
	shape []int64
	f32   []float32
	f64   []float64
	i64   []int64
	i32   []int32
}

// makeInputs builds seeded inputs for the model's graph inputs. Symbolic dims
// take their value from dims (an error if a dim is not there). An integer input
// that a Gather uses as indices into an initializer gets values within that
// initializer's first dim (token ids below the vocabulary size, token types 0 or
// 1); any other integer input (a mask) is all ones. Floats are uniform in [-1, 1).
func makeInputs(m *model.Model, dims map[string]int64) ([]input, error) {
	g := m.Graph()
	inits := map[string]*onnxpb.TensorProto{}
	for _, tp := range g.GetInitializer() {
		inits[tp.GetName()] = tp
	}
	indexRange := map[string]int64{}
	for _, n := range g.GetNode() {
		if n.GetOpType() != "Gather" || len(n.GetInput()) < 2 {
			continue
		}
		data, ok := inits[n.GetInput()[0]]
		if !ok || len(data.GetDims()) == 0 {
			continue
		}
		idx := n.GetInput()[1]
		if r, seen := indexRange[idx]; !seen || data.GetDims()[0] < r {
			indexRange[idx] = data.GetDims()[0]
		}
	}
	rng := rand.New(rand.NewPCG(2024, 11))
	var ins []input
	for _, vi := range g.GetInput() {
		if _, ok := inits[vi.GetName()]; ok {
			continue
		}
		tt := vi.GetType().GetTensorType()
		if tt == nil {
			return nil, fmt.Errorf("input %q is not a tensor", vi.GetName())
		}
		in := input{name: vi.GetName(), elem: onnxpb.TensorProto_DataType(tt.GetElemType())}
		n := int64(1)
		for _, d := range tt.GetShape().GetDim() {
			v := d.GetDimValue()
			if p := d.GetDimParam(); p != "" || v <= 0 {
				var ok bool
				if v, ok = dims[p]; !ok {
					return nil, fmt.Errorf("input %q: no value for dim %q", vi.GetName(), p)
				}
			}
			in.shape = append(in.shape, v)
			n *= v
		}
		intValue := func() int64 {
			if r, ok := indexRange[in.name]; ok {
				return rng.Int64N(r)
			}
			return 1
		}
		switch in.elem {
		case onnxpb.TensorProto_FLOAT:
			for range n {
				in.f32 = append(in.f32, float32(rng.Float64()*2-1))
			}
		case onnxpb.TensorProto_DOUBLE:
			for range n {
				in.f64 = append(in.f64, rng.Float64()*2-1)
			}
		case onnxpb.TensorProto_INT64:
			for range n {
				in.i64 = append(in.i64, intValue())
			}
		case onnxpb.TensorProto_INT32:
			for range n {
				in.i32 = append(in.i32, int32(intValue()))
			}
		default:
			return nil, fmt.Errorf("input %q: element type %s not handled by the test", in.name, in.elem)
		}
		ins = append(ins, in)
	}
	return ins, nil
}

// ortValue makes an ONNX Runtime tensor of the input.
func (in input) ortValue() (ort.Value, error) {
	shape := ort.NewShape(in.shape...)
	switch in.elem {
	case onnxpb.TensorProto_FLOAT:
		return ort.NewTensor(shape, in.f32)
	case onnxpb.TensorProto_DOUBLE:
		return ort.NewTensor(shape, in.f64)
	case onnxpb.TensorProto_INT64:
		return ort.NewTensor(shape, in.i64)
	case onnxpb.TensorProto_INT32:
		return ort.NewTensor(shape, in.i32)
	}
	return nil, fmt.Errorf("input %q: element type %s not handled", in.name, in.elem)
}

// output is one model output as ONNX Runtime computed it.
type output struct {
	shape  []int64
	values []float64
}

// runORT runs the model file in ONNX Runtime with graph optimizations off (so
// that the graph runs as written) and one thread, and returns its outputs by name.
func runORT(path string, ins []input) (map[string]output, error) {
	_, outInfo, err := ort.GetInputOutputInfo(path)
	if err != nil {
		return nil, fmt.Errorf("ONNX Runtime cannot read %s: %w", filepath.Base(path), err)
	}
	var outNames []string
	for _, o := range outInfo {
		outNames = append(outNames, o.Name)
	}
	var inNames []string
	var inVals []ort.Value
	defer func() {
		for _, v := range inVals {
			v.Destroy()
		}
	}()
	for _, in := range ins {
		v, err := in.ortValue()
		if err != nil {
			return nil, err
		}
		inNames = append(inNames, in.name)
		inVals = append(inVals, v)
	}
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, err
	}
	defer opts.Destroy()
	if err := opts.SetGraphOptimizationLevel(ort.GraphOptimizationLevelDisableAll); err != nil {
		return nil, err
	}
	if err := opts.SetIntraOpNumThreads(1); err != nil {
		return nil, err
	}
	if err := opts.SetInterOpNumThreads(1); err != nil {
		return nil, err
	}
	s, err := ort.NewDynamicAdvancedSession(path, inNames, outNames, opts)
	if err != nil {
		return nil, fmt.Errorf("ONNX Runtime cannot load %s: %w", filepath.Base(path), err)
	}
	defer s.Destroy()
	outVals := make([]ort.Value, len(outNames))
	if err := s.Run(inVals, outVals); err != nil {
		return nil, fmt.Errorf("ONNX Runtime cannot run %s: %w", filepath.Base(path), err)
	}
	res := map[string]output{}
	for i, v := range outVals {
		defer v.Destroy()
		o := output{shape: v.GetShape()}
		switch tv := v.(type) {
		case *ort.Tensor[float32]:
			for _, x := range tv.GetData() {
				o.values = append(o.values, float64(x))
			}
		case *ort.Tensor[float64]:
			o.values = append(o.values, tv.GetData()...)
		case *ort.Tensor[int64]:
			for _, x := range tv.GetData() {
				o.values = append(o.values, float64(x))
			}
		case *ort.Tensor[int32]:
			for _, x := range tv.GetData() {
				o.values = append(o.values, float64(x))
			}
		case *ort.Tensor[bool]:
			for _, x := range tv.GetData() {
				o.values = append(o.values, map[bool]float64{false: 0, true: 1}[x])
			}
		default:
			return nil, fmt.Errorf("output %q: value type %T not handled by the test", outNames[i], v)
		}
		res[outNames[i]] = o
	}
	return res, nil
}

// diff is how far one output of a processed model is from the original's.
type diff struct {
	// scale is max(1, largest |value| of the output), the unit of the
	// near-zero threshold and tolerance.
	scale                  float64
	maxRel, maxAbsNearZero float64
}

// compareOutputs checks got against want, output by output: same names, same
// shapes, values within the tolerances. It returns the largest differences seen.
func compareOutputs(want, got map[string]output) (map[string]diff, error) {
	var errs []error
	diffs := map[string]diff{}
	var names []string
	for name := range want {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		w := want[name]
		g, ok := got[name]
		if !ok {
			errs = append(errs, fmt.Errorf("output %q missing", name))
			continue
		}
		if fmt.Sprint(w.shape) != fmt.Sprint(g.shape) {
			errs = append(errs, fmt.Errorf("output %q: shape %v, want %v", name, g.shape, w.shape))
			continue
		}
		var d diff
		d.scale = 1.0
		for _, wv := range w.values {
			if !math.IsNaN(wv) && !math.IsInf(wv, 0) {
				d.scale = max(d.scale, math.Abs(wv))
			}
		}
		bad, first := 0, -1
		for i, wv := range w.values {
			gv := g.values[i]
			if math.IsNaN(wv) != math.IsNaN(gv) {
				bad++
			} else if a := math.Abs(gv - wv); math.IsNaN(wv) || a == 0 {
				// Equal, or NaN in both.
			} else if math.Abs(wv) > nearZero*d.scale {
				rel := a / math.Abs(wv)
				d.maxRel = max(d.maxRel, rel)
				if rel > relTol {
					bad++
				}
			} else {
				d.maxAbsNearZero = max(d.maxAbsNearZero, a)
				if a > absTol*d.scale {
					bad++
				}
			}
			if bad > 0 && first < 0 {
				first = i
			}
		}
		diffs[name] = d
		if bad > 0 {
			errs = append(errs, fmt.Errorf("output %q: %d of %d values differ (first at %d: %g, want %g); max relative difference %.3g, max absolute near zero (|value| <= %.3g) %.3g",
				name, bad, len(w.values), first, g.values[first], w.values[first], d.maxRel, nearZero*d.scale, d.maxAbsNearZero))
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			errs = append(errs, fmt.Errorf("output %q is new", name))
		}
	}
	return diffs, errors.Join(errs...)
}

// checkShapes checks that every node output of the main graph has an element
// type and a full shape, and that the declared shapes of the graph outputs agree
// with what ONNX Runtime produced (static dims equal; a dim named like an input
// dim has that dim's value).
func checkShapes(m *model.Model, dims map[string]int64, ran map[string]output) error {
	g := m.Graph()
	known := map[string]*onnxpb.TypeProto{}
	for _, vi := range append(append([]*onnxpb.ValueInfoProto(nil), g.GetValueInfo()...), g.GetOutput()...) {
		known[vi.GetName()] = vi.GetType()
	}
	var missing []string
	total := 0
	for _, n := range g.GetNode() {
		for _, o := range n.GetOutput() {
			if o == "" {
				continue
			}
			total++
			if !fullShape(known[o]) {
				missing = append(missing, fmt.Sprintf("%s (output of %s %q)", o, n.GetOpType(), n.GetName()))
			}
		}
	}
	var errs []error
	if len(missing) > 0 {
		show := missing
		if len(show) > 10 {
			show = show[:10]
		}
		errs = append(errs, fmt.Errorf("%d of %d node outputs lack a type or a full shape: %s", len(missing), total, strings.Join(show, ", ")))
	}
	for _, vo := range g.GetOutput() {
		r, ok := ran[vo.GetName()]
		if !ok {
			continue
		}
		sd := vo.GetType().GetTensorType().GetShape().GetDim()
		if len(sd) != len(r.shape) {
			errs = append(errs, fmt.Errorf("graph output %q: declared rank %d, ONNX Runtime made %v", vo.GetName(), len(sd), r.shape))
			continue
		}
		for i, d := range sd {
			want, ok := d.GetDimValue(), d.GetDimParam() == ""
			if !ok {
				want, ok = dims[d.GetDimParam()]
			}
			if ok && want > 0 && want != r.shape[i] {
				errs = append(errs, fmt.Errorf("graph output %q: declared dim %d is %v, ONNX Runtime made %v", vo.GetName(), i, dimString(d), r.shape))
			}
		}
	}
	return errors.Join(errs...)
}

func dimString(d *onnxpb.TensorShapeProto_Dimension) string {
	if p := d.GetDimParam(); p != "" {
		return p
	}
	return fmt.Sprint(d.GetDimValue())
}

// fullShape reports whether t is a tensor type with an element type and a shape
// whose every dim is a value or a symbol. It is written here rather than taken
// from pipeline.FullShape so that the judge does not share code with the judged.
func fullShape(t *onnxpb.TypeProto) bool {
	tt := t.GetTensorType()
	if tt == nil || tt.GetElemType() == 0 || tt.GetShape() == nil {
		return false
	}
	for _, d := range tt.GetShape().GetDim() {
		if d.GetDimParam() == "" && d.GetDimValue() <= 0 {
			if _, isValue := d.GetValue().(*onnxpb.TensorShapeProto_Dimension_DimValue); !isValue {
				return false
			}
		}
	}
	return true
}

// checkTag checks the pre-processing mark in metadata_props.
func checkTag(m *model.Model) error {
	for _, p := range m.Proto.GetMetadataProps() {
		if p.GetKey() == "onnx.quant.pre_process" {
			if p.GetValue() != "onnxruntime.quant" {
				return fmt.Errorf("metadata onnx.quant.pre_process = %q, want onnxruntime.quant", p.GetValue())
			}
			return nil
		}
	}
	return errors.New("metadata onnx.quant.pre_process missing")
}
