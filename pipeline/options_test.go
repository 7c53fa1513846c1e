package pipeline

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/quantprep/quantprep/internal/onnxtext"
	"github.com/quantprep/quantprep/pipeline/eval"
	"github.com/quantprep/quantprep/pipeline/infer"
)

// referenceFlags are the flags of `python -m onnxruntime.quantization.preprocess`
// besides --input and --output, with their defaults (external_data_location's
// None, in current releases, is our empty string; older ones said "./", which
// onnx cannot save to).
var referenceFlags = map[string]any{
	"skip_optimization":            false,
	"skip_onnx_shape":              false,
	"skip_symbolic_shape":          false,
	"auto_merge":                   false,
	"int_max":                      int64(1<<31 - 1),
	"guess_output_rank":            false,
	"verbose":                      int64(0),
	"save_as_external_data":        false,
	"all_tensors_to_one_file":      false,
	"external_data_location":       "",
	"external_data_size_threshold": int64(1024),
}

// TestTableMatchesReference: every reference flag is a row of the same name
// and default, and every row the reference lacks is marked Own.
func TestTableMatchesReference(t *testing.T) {
	for name, def := range referenceFlags {
		op := Lookup(name)
		if op == nil {
			t.Errorf("the reference's --%s is not an option", name)
			continue
		}
		if op.Own || !reflect.DeepEqual(op.Default(), def) {
			t.Errorf("--%s: own %v, default %#v; want the reference's default %#v", name, op.Own, op.Default(), def)
		}
	}
	for _, op := range Table {
		if _, ok := referenceFlags[op.Name]; !ok && !op.Own {
			t.Errorf("--%s is not the reference's: mark it Own", op.Name)
		}
	}
}

// TestTableRows: each row is whole: a unique name, a doc, a field of its
// Kind's type and a default of that type, distinct from every other row's
// field; budgets default to 0 with a ceiling.
func TestTableRows(t *testing.T) {
	var o Options
	seen, fields := map[string]bool{}, map[any]string{}
	for _, op := range Table {
		if op.Name == "" || seen[op.Name] || op.Doc == "" {
			t.Errorf("row %q: empty or repeated name, or no doc", op.Name)
		}
		seen[op.Name] = true
		p := op.Field(&o)
		if other, ok := fields[p]; ok {
			t.Errorf("%s and %s share a field", op.Name, other)
		}
		fields[p] = op.Name
		var ok bool
		switch op.Kind {
		case Bool:
			_, ok = p.(*bool)
			_, okd := op.Default().(bool)
			ok = ok && okd
		case Int, Size:
			_, ok = p.(*int64)
			_, okd := op.Default().(int64)
			ok = ok && okd
		case String:
			_, ok = p.(*string)
			_, okd := op.Default().(string)
			ok = ok && okd
		case List:
			_, ok = p.(*[]string)
			ok = ok && op.Default() == nil
		}
		if !ok {
			t.Errorf("%s: field %T or default %T does not fit kind %d", op.Name, p, op.Default(), op.Kind)
		}
		if op.Ceiling < 0 || op.Ceiling > 0 && (op.Default() != int64(0) || !op.Own) {
			t.Errorf("%s: a budget is quantprep's own and defaults to 0", op.Name)
		}
	}
	// Every field of Options is some row's (a field without a row would reach
	// no flag and no wire).
	rv := reflect.ValueOf(&o).Elem()
	n := 0
	for i := 0; i < rv.NumField(); i++ {
		if f := rv.Field(i); f.Kind() == reflect.Struct {
			n += f.NumField()
		} else {
			n++
		}
	}
	if n != len(Table) {
		t.Errorf("Options has %d fields, Table %d rows", n, len(Table))
	}
}

// TestDefaultOptions: DefaultOptions is every row's default (the
// reference's, TestTableMatchesReference), and valid.
func TestDefaultOptions(t *testing.T) {
	o := DefaultOptions()
	for i := range Table {
		op := &Table[i]
		got := reflect.ValueOf(op.Field(&o)).Elem().Interface()
		if op.Kind == List {
			if got.([]string) != nil {
				t.Errorf("%s: default %v, want none", op.Name, got)
			}
		} else if got != op.Default() {
			t.Errorf("%s: default %#v, want %#v", op.Name, got, op.Default())
		}
	}
	if err := DefaultOptions().Validate(); err != nil {
		t.Fatalf("the defaults are invalid: %v", err)
	}
}

func TestOptionsValidate(t *testing.T) {
	mod := func(f func(*Options)) Options { o := DefaultOptions(); f(&o); return o }
	tests := []struct {
		name string
		opts Options
		want string // the whole message; empty: valid
	}{
		{"defaults", DefaultOptions(), ""},
		{"verbose 1", mod(func(o *Options) { o.Verbose = 1 }), ""},
		{"verbose 3", mod(func(o *Options) { o.Verbose = 3 }), ""},
		{"verbose 2", mod(func(o *Options) { o.Verbose = 2 }), "invalid options: verbose: must be 0, 1 or 3, got 2"},
		{"int_max zero", mod(func(o *Options) { o.IntMax = 0 }), "invalid options: int_max: must be positive, got 0"},
		{"negative threshold", mod(func(o *Options) { o.ExternalDataSizeThreshold = -1 }),
			"invalid options: external_data_size_threshold: must not be negative, got -1"},
		{"location without external data", mod(func(o *Options) { o.ExternalDataLocation = "w.bin" }),
			"invalid options: external_data_location: is set but save_as_external_data is not"},
		{"location", mod(func(o *Options) { o.SaveAsExternalData = true; o.ExternalDataLocation = "w.bin" }), ""},
		{"location in subdir", mod(func(o *Options) { o.SaveAsExternalData = true; o.ExternalDataLocation = "data/w.bin" }), ""},
		{"location absolute", mod(func(o *Options) { o.SaveAsExternalData = true; o.ExternalDataLocation = "/tmp/w.bin" }),
			`invalid options: external_data_location: must be a file path relative to the output model, inside its directory, got "/tmp/w.bin"`},
		{"location escapes", mod(func(o *Options) { o.SaveAsExternalData = true; o.ExternalDataLocation = "../w.bin" }),
			`invalid options: external_data_location: must be a file path relative to the output model, inside its directory, got "../w.bin"`},
		{"location escapes after clean", mod(func(o *Options) { o.SaveAsExternalData = true; o.ExternalDataLocation = "a/../../w.bin" }),
			`invalid options: external_data_location: must be a file path relative to the output model, inside its directory, got "a/../../w.bin"`},
		{"disabled optimizers", mod(func(o *Options) { o.DisabledOptimizers = []string{"EliminateIdentity", "ConstantFolding"} }), ""},
		{"disabled unknown", mod(func(o *Options) { o.DisabledOptimizers = []string{"NoSuchPass"} }),
			`invalid options: disabled_optimizers: unknown pass or rule "NoSuchPass" (known: `},
		{"disabled required", mod(func(o *Options) { o.DisabledOptimizers = []string{"ConstantToInitializer"} }),
			"invalid options: disabled_optimizers: ConstantToInitializer cannot be disabled: the other passes rely on it"},
		{"negative budget", mod(func(o *Options) { o.Budgets.MaxFoldBytes = -1 }), "invalid options: max_fold_bytes: must not be negative, got -1"},
		{"nodes over the loader's bound", mod(func(o *Options) { o.Budgets.MaxNodes = 1 << 30 }),
			"invalid options: max_nodes: must be at most 2097152, got 1073741824"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.opts.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidOptions) || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want ErrInvalidOptions saying %q", err, tt.want)
			}
		})
	}
}

func TestBudgetsValidate(t *testing.T) {
	for _, b := range []Budgets{{MaxFoldBytes: -1}, {MaxNodeVisits: -1}, {MaxNodes: 1 << 30}} {
		if err := b.Validate(); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("%+v: %v, want ErrInvalidOptions", b, err)
		}
	}
	if err := (Budgets{MaxFoldBytes: 1, MaxNodes: 5}).Validate(); err != nil {
		t.Errorf("valid budgets: %v", err)
	}
}

func TestRequestBudgets(t *testing.T) {
	tests := []struct {
		name      string
		req, ceil Budgets
		want      Budgets
		field     string // the refused field, if any
	}{
		{"zero takes the server's unset default", Budgets{}, Budgets{}, Budgets{}, ""},
		{"zero takes the server's value", Budgets{}, Budgets{MaxFoldBytes: 1 << 20, MaxNodes: 10},
			Budgets{MaxFoldBytes: 1 << 20, MaxNodes: 10}, ""},
		{"lower is kept", Budgets{MaxFoldBytes: 1 << 10, MaxNodeVisits: 5, MaxDenseBytes: 7},
			Budgets{MaxFoldBytes: 1 << 20},
			Budgets{MaxFoldBytes: 1 << 10, MaxNodeVisits: 5, MaxDenseBytes: 7}, ""},
		{"equal is kept", Budgets{MaxFoldTotalBytes: 1 << 20}, Budgets{MaxFoldTotalBytes: 1 << 20},
			Budgets{MaxFoldTotalBytes: 1 << 20}, ""},
		{"over the server's value", Budgets{MaxFoldBytes: 2 << 20}, Budgets{MaxFoldBytes: 1 << 20}, Budgets{}, "max_fold_bytes"},
		{"over the pipeline's default", Budgets{MaxDenseBytes: eval.DefaultMaxBytes + 1}, Budgets{}, Budgets{}, "max_dense_bytes"},
		{"visits over the least default", Budgets{MaxNodeVisits: infer.DefaultMaxNodeVisits + 1}, Budgets{}, Budgets{}, "max_node_visits"},
		{"nodes over the server's", Budgets{MaxNodes: 11}, Budgets{MaxNodes: 10}, Budgets{}, "max_nodes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := RequestBudgets(tt.req, tt.ceil)
			if tt.field != "" {
				want := "invalid options: " + tt.field + ": "
				if !errors.Is(err, ErrInvalidOptions) || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "a request may only lower it") {
					t.Errorf("got %v, want an invalid-options error naming %s", err, tt.field)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestDefaultText(t *testing.T) {
	for name, want := range map[string]string{
		"int_max": "2147483647", "skip_optimization": "false", "external_data_location": "OUTPUT.data",
		"max_fold_bytes": "0: 64 MiB", "max_fold_total_bytes": "0: 512 MiB", "max_nodes": "0: 2097152",
		"disabled_optimizers": "(none)",
	} {
		if got := Lookup(name).DefaultText(); got != want {
			t.Errorf("%s: DefaultText() = %q, want %q", name, got, want)
		}
	}
}

// TestOptionsReachTheSteps: disabled_optimizers reaches the optimizer, the
// optimize step reports its time per pass, and verbose 3 (only) fills the
// inference steps' details.
func TestOptionsReachTheSteps(t *testing.T) {
	mp, err := onnxtext.ParseModel(`<ir_version: 8, opset_import: ["" : 17]>
g (float[N, 4] x) => (float[N, 4] y) { a = Identity (x) y = Relu (a) }`)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	in := writeModel(t, dir, mp)
	mod := func(f func(*Options)) Options { o := DefaultOptions(); f(&o); return o }
	tests := []struct {
		name     string
		opts     Options
		nodes    int
		identity int64 // EliminateIdentity's rewrites
		details  bool
	}{
		{"defaults", DefaultOptions(), 1, 1, false},
		{"disabled", mod(func(o *Options) { o.DisabledOptimizers = []string{"EliminateIdentity"} }), 2, 0, false},
		{"verbose 1", mod(func(o *Options) { o.Verbose = 1 }), 1, 1, false},
		{"verbose 3", mod(func(o *Options) { o.Verbose = 3 }), 1, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := Run(context.Background(), in, filepath.Join(t.TempDir(), "out.onnx"), tt.opts, nil)
			if err != nil {
				t.Fatal(err)
			}
			steps := map[string]StepReport{}
			for _, s := range rep.Steps {
				steps[s.Name] = s
			}
			opt := steps["optimize"]
			if rep.NodesAfter != tt.nodes || opt.Counts["EliminateIdentity"] != tt.identity {
				t.Errorf("%d nodes, %d identities removed; want %d, %d", rep.NodesAfter, opt.Counts["EliminateIdentity"], tt.nodes, tt.identity)
			}
			if _, ok := opt.PassDurations["ConstantFolding"]; !ok {
				t.Errorf("no time for ConstantFolding in %v", opt.PassDurations)
			}
			for _, name := range []string{"symbolic_shape", "onnx_shape"} {
				if got := len(steps[name].Details) > 0; got != tt.details {
					t.Errorf("%s: details %q, want some: %v", name, steps[name].Details, tt.details)
				}
			}
		})
	}
}
