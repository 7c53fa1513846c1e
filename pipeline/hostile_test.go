package pipeline

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/model"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// hostileMemLimit is the address space the hostile suite runs in: each of
// its models asks for tens of gigabytes; with the budgets none may get them,
// and a Go "fatal error: out of memory" fails the suite.
const hostileMemLimit = 3 << 30

// TestHostile runs tiny models that ask for far more memory or work than a
// request may take, each class of issue 10, in a child process whose address
// space is limited: the run must end with the expected outcome (a fold
// skipped with a warning naming the node, or an error of the right kind
// naming the tensor, function or domain), never with a fatal error.
func TestHostile(t *testing.T) {
	if os.Getenv("QUANTPREP_HOSTILE_CHILD") == "1" {
		if err := syscall.Setrlimit(syscall.RLIMIT_AS, &syscall.Rlimit{Cur: hostileMemLimit, Max: hostileMemLimit}); err != nil {
			t.Fatalf("setrlimit: %v", err)
		}
		runHostile(t)
		return
	}
	if runtime.GOOS != "linux" {
		t.Log("no address-space limit on " + runtime.GOOS + ": running in process")
		runHostile(t)
		return
	}
	args := []string{"-test.run=^TestHostile$", "-test.v"}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "QUANTPREP_HOSTILE_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "\nPASS") {
		t.Fatalf("hostile suite under a %d GiB address-space limit: %v\n%s", hostileMemLimit>>30, err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "hostile_test.go") {
			t.Log(strings.TrimSpace(line))
		}
	}
}

type hostileCase struct {
	name string
	m    *onnxpb.ModelProto
	raw  []byte // the model's bytes, when m cannot express them
	opts func(*Options)
	// files are written beside the model.
	files map[string][]byte
	// timeout bounds the run (and checks a cancel takes effect).
	timeout time.Duration
	// want is an error kind the run must fail with (nil: it must succeed);
	// mention must appear in the error or, on success, in a warning.
	want    error
	mention string
	check   func(t *testing.T, out *onnxpb.ModelProto)
}

func runHostile(t *testing.T) {
	for _, c := range hostileCases() {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			in := filepath.Join(dir, "in.onnx")
			b := c.raw
			if b == nil {
				var err error
				if b, err = proto.Marshal(c.m); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(in, b, 0o644); err != nil {
				t.Fatal(err)
			}
			for name, data := range c.files {
				if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			o := DefaultOptions()
			if c.opts != nil {
				c.opts(&o)
			}
			ctx := context.Background()
			if c.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, c.timeout)
				defer cancel()
			}
			out := filepath.Join(dir, "out.onnx")
			t0 := time.Now()
			rep, err := Run(ctx, in, out, o, nil)
			took := time.Since(t0)
			if c.timeout > 0 && took > c.timeout+time.Second {
				t.Errorf("took %v, over its %v timeout plus a second", took, c.timeout)
			}
			if c.want != nil {
				if !errors.Is(err, c.want) {
					t.Fatalf("err = %v, want %v", err, c.want)
				}
				if !strings.Contains(err.Error(), c.mention) {
					t.Errorf("error %q does not mention %q", err, c.mention)
				}
				if s := repeatedSegment(err.Error()); s != "" {
					t.Errorf("error %q repeats %q", err, s)
				}
				if _, serr := os.Stat(out); serr == nil {
					t.Errorf("an output was written after an error")
				}
				t.Logf("%s: %v in %v: %v", c.name, c.want, took.Round(time.Millisecond), err)
				return
			}
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			found := c.mention == ""
			for _, w := range rep.Warnings {
				if strings.Contains(w, c.mention) {
					found = true
				}
			}
			if !found {
				t.Errorf("no warning mentions %q; warnings: %q", c.mention, rep.Warnings)
			}
			om := loadValidOutput(t, out, dir)
			if c.check != nil {
				c.check(t, om.Proto)
			}
			t.Logf("%s: ok in %v, %d warnings, %d nodes left", c.name, took.Round(time.Millisecond), len(rep.Warnings), rep.NodesAfter)
		})
	}
}

// loadValidOutput loads the model a run wrote to out (external data beside it
// in dir) and fails the test unless it loads and passes model.Validate.
func loadValidOutput(t *testing.T, out, dir string) *model.Model {
	t.Helper()
	ob, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	om, err := model.LoadBytes(ob, dir)
	if err != nil {
		t.Fatalf("output does not load: %v", err)
	}
	if err := model.Validate(om.Proto); err != nil {
		t.Fatalf("output is not valid: %v", err)
	}
	return om
}

// foldModel is y = x + op(constants...), where op's folded value would be
// huge; the fold must be skipped.
func foldModel(op string, inits []*onnxpb.TensorProto, attrs ...*onnxpb.AttributeProto) *onnxpb.ModelProto {
	var names []string
	for _, tp := range inits {
		names = append(names, tp.GetName())
	}
	return hModel([]*onnxpb.NodeProto{
		hNode("huge", op, names, []string{"h"}, attrs...),
		hNode("add", "Add", []string{"x", "h"}, []string{"y"}),
	}, inits, []*onnxpb.ValueInfoProto{hVI("x", tensor.Float, 1)}, []*onnxpb.ValueInfoProto{hVI("y", tensor.Float)})
}

// doubling concatenates a one-element constant with itself n times: 195
// bytes asking for 2^n floats.
func doubling(n int) *onnxpb.ModelProto {
	nodes := []*onnxpb.NodeProto{}
	prev := "c0"
	for i := 1; i <= n; i++ {
		cur := "c" + strconv.Itoa(i)
		nodes = append(nodes, hNode("cat"+strconv.Itoa(i), "Concat", []string{prev, prev}, []string{cur}, hAttrInt("axis", 0)))
		prev = cur
	}
	nodes = append(nodes, hNode("add", "Add", []string{"x", prev}, []string{"y"}))
	return hModel(nodes, []*onnxpb.TensorProto{hFloats("c0", []int64{1}, 1)},
		[]*onnxpb.ValueInfoProto{hVI("x", tensor.Float, 1)}, []*onnxpb.ValueInfoProto{hVI("y", tensor.Float)})
}

// withInit is the Add model with its initializer changed by f.
func withInit(f func(tp *onnxpb.TensorProto)) *onnxpb.ModelProto {
	m := addModel()
	f(m.Graph.Initializer[0])
	return m
}

func withOpsets(ops ...*onnxpb.OperatorSetIdProto) *onnxpb.ModelProto {
	m := addModel()
	m.OpsetImport = ops
	return m
}

func opset(domain string, v int64) *onnxpb.OperatorSetIdProto {
	return &onnxpb.OperatorSetIdProto{Domain: proto.String(domain), Version: proto.Int64(v)}
}

// emptyNodes is a model of n empty nodes, 2 bytes each, written directly.
func emptyNodes(n int) []byte {
	var g []byte
	for i := 0; i < n; i++ {
		g = protowire.AppendTag(g, 1, protowire.BytesType)
		g = protowire.AppendVarint(g, 0)
	}
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, 8)
	op := protowire.AppendTag(nil, 2, protowire.VarintType)
	op = protowire.AppendVarint(op, 17)
	b = protowire.AppendTag(b, 8, protowire.BytesType)
	b = protowire.AppendBytes(b, op)
	b = protowire.AppendTag(b, 7, protowire.BytesType)
	return protowire.AppendBytes(b, g)
}

func hostileCases() []hostileCase {
	big := int64(1) << 40
	cases := []hostileCase{
		// 1. Folding that asks for gigabytes: skipped, named.
		{name: "tile", m: foldModel("Tile", []*onnxpb.TensorProto{hFloats("c", []int64{2, 2}, 1, 2, 3, 4), hInts("r", []int64{2}, 65536, 65536)}), mention: `"huge"`},
		{name: "pad", m: foldModel("Pad", []*onnxpb.TensorProto{hFloats("c", []int64{1}, 1), hInts("p", []int64{2}, 0, big)}), mention: `"huge"`},
		{name: "pad_wraps", m: foldModel("Pad", []*onnxpb.TensorProto{hFloats("c", []int64{3}, 1, 2, 3), hInts("p", []int64{2}, 1<<63-1, 1<<63-1)}), mention: `"huge"`},
		{name: "expand", m: foldModel("Expand", []*onnxpb.TensorProto{hFloats("c", []int64{1}, 1), hInts("s", []int64{1}, 1<<31-1)}), mention: `"huge"`},
		{name: "broadcast_add", m: foldModel("Add", []*onnxpb.TensorProto{hFloats("a", []int64{65536, 1}, make([]float32, 65536)...), hFloats("b", []int64{1, 65536}, make([]float32, 65536)...)}), mention: `"huge"`},
		{name: "where", m: foldModel("Where", []*onnxpb.TensorProto{
			tensor.New(tensor.Bool, []int64{65536, 1}).Proto("cond"), hFloats("a", []int64{1, 65536}, make([]float32, 65536)...), hFloats("b", []int64{1}, 0)}), mention: `"huge"`},
		{name: "constant_of_shape", m: foldModel("ConstantOfShape", []*onnxpb.TensorProto{hInts("s", []int64{2}, big, big)}), mention: `"huge"`},
		{name: "range", m: foldModel("Range", []*onnxpb.TensorProto{hFloats("a", nil, 0), hFloats("b", nil, 1e15), hFloats("d", nil, 1)}), mention: `"huge"`},
		{name: "reduce_empty", m: foldModel("ReduceSum", []*onnxpb.TensorProto{tensor.New(tensor.Float, []int64{0, big}).Proto("e"), hInts("ax", []int64{1}, 0)}), mention: `"huge"`},
		{name: "doubling_40", m: doubling(40), mention: "constant folding skipped"},
		// 2. Exponential expansion and cancellation.
		{name: "functions_2^40", m: exponentialFunctions(40), want: model.ErrOverBudget, mention: `function "F`},
		{name: "functions_cancel", m: exponentialFunctions(40), opts: func(o *Options) { o.Budgets.MaxNodeVisits = 1 << 60 },
			timeout: 500 * time.Millisecond, want: context.DeadlineExceeded, mention: "deadline"},
		{name: "nested_ifs_1000", m: nestedIfs(1000)},
		// The deadline must pass mid-run on any machine: nested_ifs_1000 takes
		// about 100 ms on an idle one, this model twice the work at least.
		{name: "nested_ifs_cancel", m: nestedIfs(2000), timeout: 20 * time.Millisecond, want: context.DeadlineExceeded, mention: "deadline"},
		// 4. Many empty nodes: refused before parsing.
		{name: "empty_nodes_5M", raw: emptyNodes(5_000_000), want: model.ErrOverBudget, mention: "nodes"},
		{name: "nodes_over_budget", m: doubling(40), opts: func(o *Options) { o.Budgets.MaxNodes = 10 }, want: model.ErrOverBudget, mention: "41 nodes"},
		// 7. Strict input: invalid initializers and opset imports.
		{name: "raw_short", m: withInit(func(tp *onnxpb.TensorProto) { tp.FloatData = nil; tp.RawData = make([]byte, 4) }), want: model.ErrInvalid, mention: `tensor "b"`},
		{name: "raw_long", m: withInit(func(tp *onnxpb.TensorProto) { tp.FloatData = nil; tp.RawData = make([]byte, 20) }), want: model.ErrInvalid, mention: `tensor "b"`},
		{name: "negative_dim", m: withInit(func(tp *onnxpb.TensorProto) { tp.Dims = []int64{-4} }), want: model.ErrInvalid, mention: `tensor "b"`},
		{name: "dims_overflow", m: withInit(func(tp *onnxpb.TensorProto) { tp.Dims = []int64{1 << 62, 1 << 62, 4} }), want: model.ErrInvalid, mention: `tensor "b"`},
		{name: "unknown_type", m: withInit(func(tp *onnxpb.TensorProto) { tp.DataType = proto.Int32(99) }), want: model.ErrInvalid, mention: `tensor "b"`},
		{name: "float_data_count", m: withInit(func(tp *onnxpb.TensorProto) { tp.FloatData = []float32{1, 2, 3} }), want: model.ErrInvalid, mention: `tensor "b"`},
		{name: "no_data", m: withInit(func(tp *onnxpb.TensorProto) { tp.FloatData = nil }), want: model.ErrInvalid, mention: `tensor "b"`},
		{name: "external_length_-1", m: withInit(func(tp *onnxpb.TensorProto) {
			tp.FloatData = nil
			tp.DataLocation = onnxpb.TensorProto_EXTERNAL.Enum()
			tp.ExternalData = []*onnxpb.StringStringEntryProto{{Key: proto.String("location"), Value: proto.String("b.bin")}, {Key: proto.String("length"), Value: proto.String("-1")}}
		}), files: map[string][]byte{"b.bin": make([]byte, 1<<20)}, want: model.ErrInvalid, mention: `tensor "b"`},
		{name: "opset_0", m: withOpsets(opset("", 0)), want: model.ErrInvalid, mention: `domain "ai.onnx"`},
		{name: "opset_-5", m: withOpsets(opset("", -5)), want: model.ErrInvalid, mention: `domain "ai.onnx"`},
		{name: "opset_1000", m: withOpsets(opset("", 1000)), want: model.ErrUnsupported, mention: `domain "ai.onnx"`},
		{name: "ml_opset_9", m: withOpsets(opset("", 17), opset("ai.onnx.ml", 9)), want: model.ErrUnsupported, mention: `domain "ai.onnx.ml"`},
		{name: "no_opset", m: withOpsets(), want: model.ErrInvalid, mention: "operator set"},
		// ONNX Runtime runs a model without an ai.onnx import; so do we.
		{name: "no_default_opset", m: withOpsets(opset("com.microsoft", 1))},
		// Sparse initializers are constants like any other.
		{name: "sparse_initializer", m: func() *onnxpb.ModelProto {
			m := addModel()
			m.Graph.Initializer = nil
			m.Graph.SparseInitializer = []*onnxpb.SparseTensorProto{{
				Values: hFloats("b", []int64{1}, 3), Indices: hInts("", []int64{1}, 1), Dims: []int64{4}}}
			return m
		}(), check: func(t *testing.T, out *onnxpb.ModelProto) {
			for _, tp := range out.GetGraph().GetInitializer() {
				if tp.GetName() == "b" {
					v, err := tensor.Decode(tp, nil)
					if err != nil || len(v.F32) != 4 || v.F32[1] != 3 || v.F32[0] != 0 {
						t.Errorf("dense b = %v, %v; want [0 3 0 0]", v, err)
					}
					return
				}
			}
			t.Errorf("no dense initializer b in the output")
		}},
		{name: "sparse_too_dense", m: func() *onnxpb.ModelProto {
			m := addModel()
			m.Graph.Initializer = nil
			m.Graph.SparseInitializer = []*onnxpb.SparseTensorProto{{
				Values: hFloats("b", []int64{1}, 3), Indices: hInts("", []int64{1}, 1), Dims: []int64{big}}}
			return m
		}(), want: model.ErrOverBudget, mention: `sparse initializer "b"`},
	}
	return cases
}
