package pipeline

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/quantprep/quantprep/pipeline/eval"
	"github.com/quantprep/quantprep/pipeline/infer"
	"github.com/quantprep/quantprep/pipeline/model"
	"github.com/quantprep/quantprep/pipeline/optimize"
)

// Options are the reference tool's flags, with the same names and defaults,
// and quantprep's own. Each field is one row of Table, which says its name,
// default, meaning and rules; everything that reads or writes options (the
// CLI's flags, the wire conversion, validation, the server's ceilings, the
// README) goes through Table.
type Options struct {
	SkipOptimization  bool
	SkipONNXShape     bool
	SkipSymbolicShape bool
	AutoMerge         bool
	IntMax            int64
	GuessOutputRank   bool
	Verbose           int64

	SaveAsExternalData        bool
	AllTensorsToOneFile       bool
	ExternalDataLocation      string
	ExternalDataSizeThreshold int64

	StrictShapes       bool
	DisabledOptimizers []string
	Fsync              bool

	Budgets Budgets
}

// Budgets bound what one run may spend on sizes computed from the model's
// data, each checked before anything is allocated. 0 means the default (the
// row's Ceiling in Table), which keeps a request far below a container's
// 4 GiB. Their meanings are Table's docs.
type Budgets struct {
	MaxFoldBytes      int64
	MaxFoldTotalBytes int64
	MaxNodeVisits     int64
	MaxNodes          int64
	MaxDenseBytes     int64
}

// Kind is an option's type: it sets the Go type Option.Field points to, the
// flag's syntax and the proto field's type.
type Kind int

// Kinds of option.
const (
	Bool   Kind = iota + 1 // *bool; proto bool
	Int                    // *int64; proto int32 or int64
	Size                   // *int64, a byte count (flags take 64Mi, 1GiB); proto int64
	String                 // *string; proto string
	List                   // *[]string; proto repeated string; flags take a comma-separated list
)

// Option is one row of Table.
type Option struct {
	// Name is the option's flag, proto field and Python keyword argument: the
	// reference tool's name where it has the option.
	Name string
	Kind Kind
	// Doc is the option's meaning, in one sentence (the flag's help and the
	// README's table).
	Doc string
	// Own marks quantprep's own options, which the reference tool lacks.
	Own bool
	// Ceiling is set for the budgets (Kind Int or Size, default 0): what 0
	// means, and the most a request may ask for on a server that sets no
	// ceiling of its own. A request may lower a budget, never raise it
	// (RequestBudgets).
	Ceiling int64
	// shown is the default as the README gives it, when not the value itself.
	shown string
	def   any                         // the default: bool, int64, string or nil (List)
	field func(o *Options) any        // the field, a pointer of the Kind's type
	check func(o Options) (ok string) // "" when valid, else why not (without the name)
}

// Field returns a pointer to the option's field of o: *bool, *int64, *string
// or *[]string, by Kind.
func (op *Option) Field(o *Options) any { return op.field(o) }

// Default is the option's default: bool, int64, string, or nil for a List.
func (op *Option) Default() any { return op.def }

// DefaultText is the default as the README's table and the flags' help give it.
func (op *Option) DefaultText() string {
	switch {
	case op.shown != "":
		return op.shown
	case op.Ceiling > 0 && op.Kind == Size:
		return "0: " + sizeText(op.Ceiling)
	case op.Ceiling > 0:
		return fmt.Sprintf("0: %d", op.Ceiling)
	case op.Kind == List:
		return "(none)"
	case op.Kind == String && op.def == "":
		return "(none)"
	}
	return fmt.Sprint(op.def)
}

// sizeText writes n bytes in the largest binary unit that divides it.
func sizeText(n int64) string {
	for _, u := range []struct {
		unit string
		size int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n%u.size == 0 {
			return fmt.Sprintf("%d %s", n/u.size, u.unit)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}

// Reference defaults.
const (
	DefaultIntMax                    = infer.DefaultIntMax
	DefaultExternalDataSizeThreshold = 1024
)

// Table is every option, in the order of the CLI's help and the README: the
// reference tool's first, then quantprep's own. Adding an option is a row
// here and its field in Options, a field of the same name in the proto's
// Options message, and its use; the flags, the wire conversion (by proto
// field name), validation, the README and the Python client follow.
var Table = []Option{
	{Name: "skip_optimization", Kind: Bool, def: false, Doc: "skip graph optimization",
		field: func(o *Options) any { return &o.SkipOptimization }},
	{Name: "skip_onnx_shape", Kind: Bool, def: false, Doc: "skip ONNX shape inference",
		field: func(o *Options) any { return &o.SkipONNXShape }},
	{Name: "skip_symbolic_shape", Kind: Bool, def: false, Doc: "skip symbolic shape inference",
		field: func(o *Options) any { return &o.SkipSymbolicShape }},
	{Name: "auto_merge", Kind: Bool, def: false, Doc: "merge conflicting symbolic dims instead of failing",
		field: func(o *Options) any { return &o.AutoMerge }},
	{Name: "int_max", Kind: Int, def: int64(DefaultIntMax),
		Doc:   `largest integer that symbolic shape inference treats as a real value; larger ones (as in Slice ends) mean "to the end"`,
		field: func(o *Options) any { return &o.IntMax },
		check: func(o Options) string { return positive(o.IntMax) }},
	{Name: "guess_output_rank", Kind: Bool, def: false, Doc: "give outputs of unknown operators the rank of their first input",
		field: func(o *Options) any { return &o.GuessOutputRank }},
	{Name: "verbose", Kind: Int, def: int64(0),
		Doc:   "0: quiet; 1: print the warnings; 3: also the details, each node output's inferred type and each optimizer pass's time",
		field: func(o *Options) any { return &o.Verbose },
		check: func(o Options) string {
			if o.Verbose != 0 && o.Verbose != 1 && o.Verbose != 3 {
				return fmt.Sprintf("must be 0, 1 or 3, got %d", o.Verbose)
			}
			return ""
		}},
	{Name: "save_as_external_data", Kind: Bool, def: false, Doc: "save the weights as external data",
		field: func(o *Options) any { return &o.SaveAsExternalData }},
	{Name: "all_tensors_to_one_file", Kind: Bool, def: false, Doc: "put all external data in one file, rather than one file per tensor",
		field: func(o *Options) any { return &o.AllTensorsToOneFile }},
	{Name: "external_data_location", Kind: String, def: "", shown: "OUTPUT.data",
		Doc:   "with all_tensors_to_one_file, the external data file's name, relative to the output model (without it, each tensor gets a file named after the tensor)",
		field: func(o *Options) any { return &o.ExternalDataLocation },
		check: func(o Options) string {
			loc := o.ExternalDataLocation
			if loc == "" {
				return ""
			}
			if !o.SaveAsExternalData {
				return "is set but save_as_external_data is not"
			}
			clean := filepath.Clean(filepath.FromSlash(loc))
			if filepath.IsAbs(loc) || strings.HasPrefix(loc, "/") || strings.ContainsRune(loc, 0) || clean == "." || clean == ".." ||
				strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
				return fmt.Sprintf("must be a file path relative to the output model, inside its directory, got %q", loc)
			}
			return ""
		}},
	{Name: "external_data_size_threshold", Kind: Int, def: int64(DefaultExternalDataSizeThreshold),
		Doc:   "tensors of at least this many bytes go to external data",
		field: func(o *Options) any { return &o.ExternalDataSizeThreshold },
		check: func(o Options) string { return notNegative(o.ExternalDataSizeThreshold) }},

	{Name: "strict_shapes", Kind: Bool, Own: true, def: false,
		Doc:   "fail when an inferred shape conflicts with one already in the model, instead of warning and keeping the existing one",
		field: func(o *Options) any { return &o.StrictShapes }},
	{Name: "fsync", Kind: Bool, Own: true, def: false,
		Doc:   "sync each output file to disk before renaming it into place, so that the output survives a power loss (the reference does not; it costs about the time the disk takes to write the model)",
		field: func(o *Options) any { return &o.Fsync }},
	{Name: "disabled_optimizers", Kind: List, Own: true,
		Doc:   "optimizer passes and rewrite rules not to run, by ONNX Runtime's names (as its InferenceSession's disabled_optimizers); an unknown name is refused with the list of known ones",
		field: func(o *Options) any { return &o.DisabledOptimizers },
		check: func(o Options) string {
			for _, name := range o.DisabledOptimizers {
				if err := optimize.CheckDisabled(name); err != nil {
					return err.Error()
				}
			}
			return ""
		}},

	// The budgets: 0 takes the server's value (by default Ceiling); a request
	// may lower one but not raise it over the server's.
	{Name: "max_fold_bytes", Kind: Size, Own: true, def: int64(0), Ceiling: eval.DefaultMaxBytes,
		Doc:   "bytes constant folding may allocate for one node; a node over it stays unfolded, with a warning",
		field: func(o *Options) any { return &o.Budgets.MaxFoldBytes }},
	{Name: "max_fold_total_bytes", Kind: Size, Own: true, def: int64(0), Ceiling: optimize.DefaultMaxFoldTotalBytes,
		Doc:   "bytes constant folding may add to the model over the run",
		field: func(o *Options) any { return &o.Budgets.MaxFoldTotalBytes }},
	{Name: "max_node_visits", Kind: Int, Own: true, def: int64(0), Ceiling: infer.DefaultMaxNodeVisits,
		shown: fmt.Sprintf("0: %d or 4× the model's nodes", infer.DefaultMaxNodeVisits),
		Doc:   "nodes shape inference may visit in one step, function bodies and subgraphs once per expansion; over it the run fails naming the function",
		field: func(o *Options) any { return &o.Budgets.MaxNodeVisits }},
	{Name: "max_nodes", Kind: Int, Own: true, def: int64(0), Ceiling: model.DefaultMaxNodes,
		Doc:   "nodes the model may have, in every graph and function; the default is also the most allowed, since the loader refuses more before parsing",
		field: func(o *Options) any { return &o.Budgets.MaxNodes },
		check: func(o Options) string {
			// More would be ignored: the loader refuses more nodes before parsing.
			if o.Budgets.MaxNodes > model.DefaultMaxNodes {
				return fmt.Sprintf("must be at most %d, got %d", model.DefaultMaxNodes, o.Budgets.MaxNodes)
			}
			return ""
		}},
	{Name: "max_dense_bytes", Kind: Size, Own: true, def: int64(0), Ceiling: eval.DefaultMaxBytes,
		Doc:   "bytes of the dense value of one sparse initializer",
		field: func(o *Options) any { return &o.Budgets.MaxDenseBytes }},
}

func positive(v int64) string {
	if v <= 0 {
		return fmt.Sprintf("must be positive, got %d", v)
	}
	return ""
}

func notNegative(v int64) string {
	if v < 0 {
		return fmt.Sprintf("must not be negative, got %d", v)
	}
	return ""
}

// Lookup returns the option of that name, or nil.
func Lookup(name string) *Option {
	for i := range Table {
		if Table[i].Name == name {
			return &Table[i]
		}
	}
	return nil
}

// DefaultOptions returns every option's default: the reference tool's.
func DefaultOptions() Options {
	var o Options
	for i := range Table {
		op := &Table[i]
		switch p := op.Field(&o).(type) {
		case *bool:
			*p = op.def.(bool)
		case *int64:
			*p = op.def.(int64)
		case *string:
			*p = op.def.(string)
		case *[]string:
			*p = nil
		}
	}
	return o
}

// ErrInvalidOptions marks an Options value that Validate rejects.
var ErrInvalidOptions = errors.New("invalid options")

// invalid is the one wording of a refused option: "invalid options: NAME: why".
func invalid(name, why string) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalidOptions, name, why)
}

// Validate checks the options against Table's rules; its error names the
// option at fault and wraps ErrInvalidOptions. It is the only validation of
// options: the CLI, the server and the pipeline all call it.
func (o Options) Validate() error {
	return o.validate(func(*Option) bool { return true })
}

func (o Options) validate(which func(*Option) bool) error {
	for i := range Table {
		op := &Table[i]
		if !which(op) {
			continue
		}
		if op.Ceiling > 0 {
			if why := notNegative(*op.Field(&o).(*int64)); why != "" {
				return invalid(op.Name, why)
			}
		}
		if op.check != nil {
			if why := op.check(o); why != "" {
				return invalid(op.Name, why)
			}
		}
	}
	return nil
}

// Validate checks the budgets alone, as Options.Validate does.
func (b Budgets) Validate() error {
	return Options{Budgets: b}.validate(func(op *Option) bool { return op.Ceiling > 0 })
}

// WithDefaults returns b with every zero budget replaced by its default (the
// row's Ceiling).
func (b Budgets) WithDefaults() Budgets {
	o := Options{Budgets: b}
	for i := range Table {
		if op := &Table[i]; op.Ceiling > 0 {
			if p := op.Field(&o).(*int64); *p <= 0 {
				*p = op.Ceiling
			}
		}
	}
	return o.Budgets
}

// RequestBudgets gives a request the server's budgets (ceil) where it
// leaves one at 0, and refuses one over the server's: a request may lower a
// budget, never raise it, so the server's memory estimate (and its
// operator's bounds) hold whatever a client asks. An unset server budget's
// ceiling is the row's Ceiling (for max_node_visits the least default: its
// scaling with the model's size applies only when the request leaves it at
// 0). The error names the option and wraps ErrInvalidOptions.
func RequestBudgets(req, ceil Budgets) (Budgets, error) {
	in, lim, out := Options{Budgets: req}, Options{Budgets: ceil.WithDefaults()}, Options{Budgets: ceil}
	for i := range Table {
		op := &Table[i]
		if op.Ceiling == 0 {
			continue
		}
		r, l := *op.Field(&in).(*int64), *op.Field(&lim).(*int64)
		switch {
		case r > l:
			return Budgets{}, invalid(op.Name, fmt.Sprintf("%d is over this server's limit of %d (a request may only lower it)", r, l))
		case r > 0:
			*op.Field(&out).(*int64) = r
		}
	}
	return out.Budgets, nil
}
