package pipeline

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/model"
)

// repeatedSegment returns a ": "-separated segment of msg that occurs twice
// ("optimize: optimize: ..."), or "": each layer adds its context once.
func repeatedSegment(msg string) string {
	seen := map[string]bool{}
	for _, s := range strings.Split(msg, ": ") {
		if seen[s] {
			return s
		}
		seen[s] = true
	}
	return ""
}

func TestRepeatedSegment(t *testing.T) {
	for _, c := range []struct{ msg, want string }{
		{"optimize: optimize: x", "optimize"},
		{"save: invalid model: save: open x: no such file", "save"},
		{`optimize: Level1_RuleBasedTransformer: internal error: rule R panicked on node "a" (Relu) (a bug): boom`, ""},
	} {
		if got := repeatedSegment(c.msg); got != c.want {
			t.Errorf("repeatedSegment(%q) = %q, want %q", c.msg, got, c.want)
		}
	}
}

// TestErrorWording runs representative failures of each step through the
// pipeline: each wraps its category (the one the server maps), begins with
// the step that failed, names what is at fault, and repeats no prefix.
func TestErrorWording(t *testing.T) {
	withNode := func(f func(n *onnxpb.NodeProto)) *onnxpb.ModelProto {
		m := addModel()
		f(m.Graph.Node[0])
		return m
	}
	sparse := addModel()
	sparse.Graph.Initializer = nil
	sparse.Graph.SparseInitializer = []*onnxpb.SparseTensorProto{{
		Values: hFloats("b", []int64{1}, 3), Indices: hInts("", []int64{1}, 1), Dims: []int64{4}}}
	for _, c := range []struct {
		name string
		m    *onnxpb.ModelProto
		opts func(*Options)
		// panicIn makes a step panic; cancelIn cancels the run when a step starts.
		panicIn, cancelIn string
		want              error
		prefix, mention   string
		// out is the output's path in the test's directory (default out.onnx).
		out string
	}{
		{name: "step_panic", m: addModel(), panicIn: "optimize", want: model.ErrInternal,
			prefix: "optimize: internal error: panicked (a bug): ", mention: "nil map"},
		{name: "cancel_in_optimize", m: addModel(), cancelIn: "optimize", want: context.Canceled,
			prefix: "optimize: ", mention: "canceled"},
		{name: "cancel_in_onnx_shape", m: addModel(), cancelIn: "onnx_shape", want: context.Canceled,
			mention: "canceled"},
		{name: "undefined_input", m: withNode(func(n *onnxpb.NodeProto) { n.Input[1] = "nowhere" }), want: model.ErrInvalid,
			prefix: "symbolic_shape: invalid model: ", mention: `node "add" (Add): input "nowhere"`},
		{name: "node_visits", m: exponentialFunctions(8), opts: func(o *Options) { o.Budgets.MaxNodeVisits = 100 },
			want: model.ErrOverBudget, prefix: "symbolic_shape: over budget: ", mention: `function "F`},
		{name: "opset_too_new", m: withOpsets(opset("", model.MaxOnnxOpset+1)), want: model.ErrUnsupported,
			prefix: "unsupported: ", mention: `domain "ai.onnx"`},
		{name: "sparse_over_budget", m: sparse, opts: func(o *Options) { o.Budgets.MaxDenseBytes = 8 }, want: model.ErrOverBudget,
			prefix: "over budget: ", mention: `sparse initializer "b"`},
		{name: "too_large_inline", m: func() *onnxpb.ModelProto {
			m := addModel()
			// Declared far over 2 GB, stored as external data that the
			// optimizer cannot remove: refused before running.
			m.Graph.Initializer[0] = &onnxpb.TensorProto{Name: proto.String("b"), DataType: proto.Int32(1), Dims: []int64{1 << 30},
				DataLocation: onnxpb.TensorProto_EXTERNAL.Enum(), ExternalData: []*onnxpb.StringStringEntryProto{
					{Key: proto.String("location"), Value: proto.String("w.bin")}, {Key: proto.String("length"), Value: proto.String("4294967296")}}}
			return m
		}(), want: model.ErrTooLarge, prefix: "save: model too large: ", mention: "save_as_external_data"},
		{name: "save_fails", m: addModel(), out: filepath.Join("missing", "out.onnx"), want: os.ErrNotExist,
			prefix: "save: ", mention: "out.onnx"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.panicIn != "" {
				saved := steps
				defer func() { steps = saved }()
				steps = append([]step{}, saved...)
				for i := range steps {
					if steps[i].name == c.panicIn {
						steps[i].run = func(context.Context, *model.Model, Options, *StepReport) error {
							var m map[string]int
							m["x"] = 1 // a nil map write: a bug
							return nil
						}
					}
				}
			}
			dir := t.TempDir()
			if c.name == "too_large_inline" {
				f, err := os.Create(filepath.Join(dir, "w.bin"))
				if err != nil {
					t.Fatal(err)
				}
				if err := f.Truncate(4 << 30); err != nil { // sparse: no disk used
					t.Fatal(err)
				}
				f.Close()
			}
			in := writeModel(t, dir, c.m)
			o := DefaultOptions()
			if c.opts != nil {
				c.opts(&o)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			progress := func(e Event) {
				if e.Step == c.cancelIn && e.Phase == Started {
					cancel()
				}
			}
			if c.out == "" {
				c.out = "out.onnx"
			}
			_, err := Run(ctx, in, filepath.Join(dir, c.out), o, progress)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want one wrapping %v", err, c.want)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, c.prefix) || !strings.Contains(msg, c.mention) {
				t.Errorf("error %q: want it to begin with %q and mention %q", msg, c.prefix, c.mention)
			}
			if s := repeatedSegment(msg); s != "" {
				t.Errorf("error %q repeats %q", msg, s)
			}
		})
	}
}
