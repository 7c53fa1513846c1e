package infer

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/model"
	"github.com/quantprep/quantprep/pipeline/opset/opsettest"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// backendSuites are the suites scored, in the scoreboard's order.
var backendSuites = []string{"node", "pytorch-converted", "pytorch-operator", "simple"}

// nodeTestsFile records every case's verdict per mode, ONNX 1.12's verdict
// (onnx.shape_inference.infer_shapes, computed once by
// testdata/nodetests_onnx112.py) and, for a case not exact, why.
const nodeTestsFile = "testdata/nodetests.tsv"

// Verdicts, from worst to best. They are those of ONNX's judging script:
// exact (every dim of every output equals the expected tensor's), rank_only
// (right rank, some dim unknown or symbolic), missing (no shape, or a
// non-tensor output without a type), error (inference failed), wrong (a
// dim, rank, element type or value kind that contradicts the expected output).
var verdictRank = map[string]int{"wrong": 0, "error": 1, "missing": 2, "rank_only": 3, "exact": 4}

// nodeCase is one line of testdata/nodetests.tsv.
type nodeCase struct {
	suite, name     string
	onnx, symbolic  string
	onnx112, reason string
	// dims is "k/s/n": of the n dims of the expected tensor outputs, how
	// many ONNX mode (k) and Symbolic mode (s) infer as values, so that
	// partial knowledge cannot regress unseen.
	dims string
}

func (c nodeCase) key() string { return c.suite + "/" + c.name }

// TestBackendNodeTests runs both modes on every case of ONNX's backend tests
// with the graph outputs' types and the value_info cleared, judges each output
// against the expected output tensor, and compares every case's verdict with
// testdata/nodetests.tsv: a wrong verdict, or one worse than the file's, fails,
// as does a case not exact without a reason in the file, a simple/ case worse
// than ONNX 1.12's verdict, and in Symbolic mode an output dim that is
// neither a value nor named. -update rewrites the file and logs each change;
// without it an improvement is logged so that the file gets committed. It skips when the test data
// is not installed, unless QUANTPREP_REQUIRE_ORACLES=1.
func TestBackendNodeTests(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	opsettest.NeedBackend(t, "node")
	recorded, order, err := readNodeTests(nodeTestsFile)
	if err != nil && !*update {
		t.Fatal(err)
	}
	var got []nodeCase
	for _, suite := range backendSuites {
		dirs, _ := filepath.Glob(filepath.Join(opsettest.BackendDir, suite, "*", "model.onnx"))
		sort.Strings(dirs)
		for _, p := range dirs {
			dir := filepath.Dir(p)
			c := nodeCase{suite: suite, name: filepath.Base(dir)}
			exp, err := expectedOutputs(dir)
			if err != nil {
				t.Errorf("%s: %v", c.key(), err)
				continue
			}
			if exp == nil {
				continue // no test data: the script skips it too
			}
			var detail [2]string
			var known [2]int
			c.onnx, detail[0], known[0] = judgeCase(dir, exp, ONNX)
			c.symbolic, detail[1], known[1] = judgeCase(dir, exp, Symbolic)
			total := 0
			for _, e := range exp {
				total += len(e.dims)
			}
			c.dims = fmt.Sprintf("%d/%d/%d", known[0], known[1], total)
			for i, v := range []string{c.onnx, c.symbolic} {
				if v != "exact" && os.Getenv("NODETEST_LOG") != "" {
					t.Logf("%s (%v): %s: %s", c.key(), []Mode{ONNX, Symbolic}[i], v, detail[i])
				}
				if v == "wrong" || v == "error" || strings.HasPrefix(detail[i], "UNNAMED") {
					t.Errorf("%s (%v): %s: %s", c.key(), []Mode{ONNX, Symbolic}[i], v, detail[i])
				}
			}
			if r, ok := recorded[c.key()]; ok {
				c.onnx112, c.reason = r.onnx112, r.reason
				checkVerdict(t, c.key(), "onnx", c.onnx, r.onnx, detail[0])
				checkVerdict(t, c.key(), "symbolic", c.symbolic, r.symbolic, detail[1])
				var was [2]int
				var n int
				fmt.Sscanf(r.dims, "%d/%d/%d", &was[0], &was[1], &n)
				for i, mode := range []string{"onnx", "symbolic"} {
					switch {
					case known[i] < was[i]:
						t.Errorf("%s (%s): %d dims known, was %d: %s", c.key(), mode, known[i], was[i], detail[i])
					case known[i] > was[i] && !*update:
						t.Logf("IMPROVED %s (%s): %d dims known, was %d (run with -update and commit %s)", c.key(), mode, known[i], was[i], nodeTestsFile)
					}
				}
			} else if !*update {
				t.Errorf("%s: not in %s (run with -update and commit it)", c.key(), nodeTestsFile)
			}
			for i, v := range []string{c.onnx, c.symbolic} {
				if c.onnx112 != "" && verdictRank[v] < verdictRank[c.onnx112] {
					t.Errorf("%s (%v): %s, worse than ONNX 1.12's %s", c.key(), []Mode{ONNX, Symbolic}[i], v, c.onnx112)
				}
			}
			if (c.onnx != "exact" || c.symbolic != "exact") && c.reason == "" && !*update {
				t.Errorf("%s: %s/%s with no reason recorded in %s", c.key(), c.onnx, c.symbolic, nodeTestsFile)
			}
			got = append(got, c)
		}
	}
	seen := map[string]bool{}
	for _, c := range got {
		seen[c.key()] = true
	}
	for _, k := range order {
		if !seen[k] {
			t.Errorf("%s: recorded in %s but no longer found", k, nodeTestsFile)
		}
	}
	t.Log("\n" + scoreboard(got))
	if *update {
		for _, c := range got {
			r, ok := recorded[c.key()]
			switch {
			case !ok:
				t.Logf("new case %s: onnx %s, symbolic %s", c.key(), c.onnx, c.symbolic)
			case r.onnx != c.onnx || r.symbolic != c.symbolic:
				t.Logf("changed %s: onnx %s -> %s, symbolic %s -> %s", c.key(), r.onnx, c.onnx, r.symbolic, c.symbolic)
			}
			if c.onnx == "exact" && c.symbolic == "exact" && c.reason != "" {
				t.Logf("%s is exact now: its reason %q is dropped", c.key(), c.reason)
			}
		}
		if err := writeNodeTests(nodeTestsFile, got); err != nil {
			t.Fatal(err)
		}
	}
}

// checkVerdict fails on a verdict worse than the recorded one and reports one
// that is better, so that the file gets updated.
func checkVerdict(t *testing.T, key, mode, got, want, detail string) {
	t.Helper()
	switch {
	case verdictRank[got] < verdictRank[want]:
		t.Errorf("%s (%s): %s, was %s: %s", key, mode, got, want, detail)
	case verdictRank[got] > verdictRank[want] && !*update:
		t.Logf("IMPROVED %s (%s): %s, was %s (run with -update and commit %s)", key, mode, got, want, nodeTestsFile)
	}
}

// scoreboard counts verdicts per suite and mode, beside ONNX 1.12's.
func scoreboard(cases []nodeCase) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-18s %-9s %6s %6s %9s %7s %5s %5s\n", "suite", "mode", "cases", "exact", "rank_only", "missing", "error", "wrong")
	for _, suite := range backendSuites {
		for _, mode := range []string{"onnx", "symbolic", "onnx1.12"} {
			n := map[string]int{}
			total := 0
			for _, c := range cases {
				if c.suite != suite {
					continue
				}
				v := map[string]string{"onnx": c.onnx, "symbolic": c.symbolic, "onnx1.12": c.onnx112}[mode]
				n[v]++
				total++
			}
			fmt.Fprintf(&b, "%-18s %-9s %6d %6d %9d %7d %5d %5d\n", suite, mode, total, n["exact"], n["rank_only"], n["missing"], n["error"], n["wrong"])
		}
	}
	return b.String()
}

// expectedOutput is what one graph output must be: a tensor with these dims
// and element type, or a value of another kind ("sequence_type", ...).
type expectedOutput struct {
	kind string
	elem int32
	dims []int64
	// items are a sequence's tensors, whose element type is checked against
	// the inferred one (beyond ONNX's script, which compares only the kind).
	items []*onnxpb.TensorProto
}

// expectedOutputs pairs the graph outputs with test_data_set_0's output files,
// as ONNX's judging script does (the shorter list wins); nil without test data.
func expectedOutputs(dir string) ([]expectedOutput, error) {
	files, _ := filepath.Glob(filepath.Join(dir, "test_data_set_0", "output_*.pb"))
	if len(files) == 0 {
		return nil, nil
	}
	sort.Slice(files, func(i, j int) bool { return outputIndex(files[i]) < outputIndex(files[j]) })
	m, err := model.Load(filepath.Join(dir, "model.onnx"))
	if err != nil {
		return nil, err
	}
	outs := m.Graph().GetOutput()
	var exp []expectedOutput
	for i, f := range files {
		if i >= len(outs) {
			break
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		if k := valueKind(outs[i].GetType()); k != "tensor_type" {
			e := expectedOutput{kind: k}
			if k == "sequence_type" {
				if e.items, err = sequenceTensors(b); err != nil {
					return nil, fmt.Errorf("%s: %w", f, err)
				}
			}
			exp = append(exp, e)
			continue
		}
		tp := &onnxpb.TensorProto{}
		if err := proto.Unmarshal(b, tp); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		// The declared element type wins: ONNX 1.12 stores bfloat16 outputs
		// as uint16 tensors.
		elem := outs[i].GetType().GetTensorType().GetElemType()
		if elem == 0 {
			elem = tp.GetDataType()
		}
		exp = append(exp, expectedOutput{kind: "tensor_type", elem: elem, dims: append([]int64{}, tp.GetDims()...)})
	}
	return exp, nil
}

// sequenceTensors reads the tensors of a serialized SequenceProto (field 3,
// tensor_values), which the generated package does not define.
func sequenceTensors(b []byte) ([]*onnxpb.TensorProto, error) {
	var out []*onnxpb.TensorProto
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		b = b[n:]
		if num == 3 && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, protowire.ParseError(n)
			}
			tp := &onnxpb.TensorProto{}
			if err := proto.Unmarshal(v, tp); err != nil {
				return nil, err
			}
			out = append(out, tp)
			b = b[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		b = b[n:]
	}
	return out, nil
}

// itemsFit says whether every tensor of an expected sequence has the
// inferred element type. Shapes are not compared: a model's own declared
// subgraph output types take part in the merge (test_loop16_seq_none
// declares scalar items and inserts vectors), and ONNX's script compares
// only the kind.
func itemsFit(got Type, items []*onnxpb.TensorProto) bool {
	if got.Kind != KindSequence || got.Inner == nil || got.Inner.Kind != KindTensor || got.Inner.Elem == 0 {
		return true
	}
	for _, it := range items {
		if int32(got.Inner.Elem) != it.GetDataType() {
			return false
		}
	}
	return true
}

// valueKind names the TypeProto field set, as protobuf's WhichOneof does.
func valueKind(t *onnxpb.TypeProto) string {
	switch t.GetValue().(type) {
	case *onnxpb.TypeProto_TensorType:
		return "tensor_type"
	case *onnxpb.TypeProto_SequenceType:
		return "sequence_type"
	case *onnxpb.TypeProto_MapType:
		return "map_type"
	case *onnxpb.TypeProto_OptionalType:
		return "optional_type"
	case *onnxpb.TypeProto_SparseTensorType:
		return "sparse_tensor_type"
	}
	return ""
}

// judgeCase runs one mode on the case's model with outputs and value_info
// cleared and returns its verdict and, when not exact, what was inferred.
func judgeCase(dir string, exp []expectedOutput, mode Mode) (verdict, detail string, known int) {
	m, err := model.Load(filepath.Join(dir, "model.onnx"))
	if err != nil {
		return "error", err.Error(), 0
	}
	for _, o := range m.Graph().GetOutput() {
		o.Type = nil
	}
	m.Graph().ValueInfo = nil
	if _, err := Run(context.Background(), m, Config{Mode: mode}); err != nil {
		return "error", err.Error(), 0
	}
	verdict, detail = judgeOutputs(m.Graph().GetOutput(), exp)
	for i, o := range m.Graph().GetOutput() {
		if i < len(exp) && exp[i].kind == "tensor_type" && verdict != "wrong" {
			for _, d := range o.GetType().GetTensorType().GetShape().GetDim() {
				if _, ok := d.GetValue().(*onnxpb.TensorShapeProto_Dimension_DimValue); ok {
					known++
				}
			}
		}
	}
	if mode == Symbolic {
		// A dim symbolic inference cannot know still gets a name.
		for _, o := range m.Graph().GetOutput() {
			for _, d := range o.GetType().GetTensorType().GetShape().GetDim() {
				if d.GetValue() == nil {
					return verdict, fmt.Sprintf("UNNAMED: output %s has an unnamed dim; %s", o.GetName(), detail), known
				}
			}
		}
	}
	return verdict, detail, known
}

// judgeOutputs is ONNX's judging script's verdict, stricter in one way: an
// inferred element type that differs from the expected tensor's is wrong.
func judgeOutputs(outs []*onnxpb.ValueInfoProto, exp []expectedOutput) (verdict, detail string) {
	verdict = "exact"
	var notes []string
	worse := func(v string) {
		if verdictRank[v] < verdictRank[verdict] && (verdict == "exact" || v == "wrong") {
			verdict = v
		}
	}
	for i, e := range exp {
		if i >= len(outs) {
			break
		}
		o := outs[i]
		got := typeFromProto(o.GetType())
		if e.kind != "tensor_type" {
			switch k := valueKind(o.GetType()); {
			case k == "":
				worse("missing")
			case k != e.kind:
				worse("wrong")
			case !itemsFit(got, e.items):
				worse("wrong")
			default:
				continue
			}
			notes = append(notes, fmt.Sprintf("%s: %v, want %s", o.GetName(), got, e.kind))
			continue
		}
		tt := o.GetType().GetTensorType()
		if tt == nil || tt.GetShape() == nil {
			if tt != nil && tt.GetElemType() != 0 && tt.GetElemType() != e.elem {
				worse("wrong")
			} else {
				worse("missing")
			}
			notes = append(notes, fmt.Sprintf("%s: %v, want %v%v", o.GetName(), got, tensor.DType(e.elem), e.dims))
			continue
		}
		ok := len(tt.GetShape().GetDim()) == len(e.dims)
		known := true
		if ok {
			for j, d := range tt.GetShape().GetDim() {
				if v, isVal := d.GetValue().(*onnxpb.TensorShapeProto_Dimension_DimValue); isVal {
					ok = ok && v.DimValue == e.dims[j]
				} else {
					known = false
				}
			}
		}
		if tt.GetElemType() != 0 && tt.GetElemType() != e.elem {
			ok = false
		}
		switch {
		case !ok:
			worse("wrong")
		case !known:
			worse("rank_only")
		default:
			continue
		}
		notes = append(notes, fmt.Sprintf("%s: %v, want %v%v", o.GetName(), got, tensor.DType(e.elem), e.dims))
	}
	return verdict, strings.Join(notes, "; ")
}

func outputIndex(path string) int {
	base := strings.TrimSuffix(filepath.Base(path), ".pb")
	n := 0
	for _, c := range base[strings.LastIndexByte(base, '_')+1:] {
		n = n*10 + int(c-'0')
	}
	return n
}

// readNodeTests reads testdata/nodetests.tsv: a header line, then suite, case,
// onnx verdict, symbolic verdict, ONNX 1.12's verdict, the dims known (see
// nodeCase.dims) and a reason, tab-separated.
func readNodeTests(path string) (map[string]nodeCase, []string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	recs := map[string]nodeCase{}
	var order []string
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		if line == 1 || strings.HasPrefix(sc.Text(), "#") || sc.Text() == "" {
			continue
		}
		fs := strings.Split(sc.Text(), "\t")
		if len(fs) != 7 {
			return nil, nil, fmt.Errorf("%s:%d: %d fields, want 7", path, line, len(fs))
		}
		c := nodeCase{suite: fs[0], name: fs[1], onnx: fs[2], symbolic: fs[3], onnx112: fs[4], dims: fs[5], reason: fs[6]}
		if c.onnx112 == "-" {
			c.onnx112 = "" // not computed yet: run nodetests_onnx112.py
		}
		for i, v := range []string{c.onnx, c.symbolic, c.onnx112} {
			if _, ok := verdictRank[v]; !ok && !(i == 2 && v == "") {
				return nil, nil, fmt.Errorf("%s:%d: unknown verdict %q", path, line, v)
			}
		}
		recs[c.key()] = c
		order = append(order, c.key())
	}
	return recs, order, sc.Err()
}

func writeNodeTests(path string, cases []nodeCase) error {
	var b strings.Builder
	b.WriteString("suite\tcase\tonnx\tsymbolic\tonnx1.12\tdims\treason\n")
	for _, c := range cases {
		reason := c.reason
		if c.onnx == "exact" && c.symbolic == "exact" {
			reason = ""
		}
		o112 := c.onnx112
		if o112 == "" {
			o112 = "-"
		}
		fmt.Fprintf(&b, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.suite, c.name, c.onnx, c.symbolic, o112, c.dims, reason)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
