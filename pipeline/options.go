package pipeline

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/quantprep/quantprep/pipeline/infer"
)

// Options are the reference tool's flags, with the same names and defaults.
type Options struct {
	SkipOptimization  bool
	SkipONNXShape     bool
	SkipSymbolicShape bool
	// AutoMerge merges conflicting symbolic dims instead of failing on them.
	AutoMerge bool
	// IntMax is the largest integer symbolic inference treats as a real value.
	IntMax int64
	// GuessOutputRank gives outputs of unknown ops the rank of their first input.
	GuessOutputRank bool
	// Verbose is 0, 1 or 3.
	Verbose                   int
	SaveAsExternalData        bool
	AllTensorsToOneFile       bool
	ExternalDataLocation      string
	ExternalDataSizeThreshold int64

	// StrictShapes is quantprep's own option: where a shape already recorded
	// in the model conflicts with an inferred one, fail instead of warning.
	StrictShapes bool

	// Budgets (quantprep's own; 0 means the default, see budget.go).
	Budgets Budgets
}

// Reference defaults.
const (
	DefaultIntMax                    = infer.DefaultIntMax
	DefaultExternalDataSizeThreshold = 1024
)

// DefaultOptions returns the reference tool's defaults.
func DefaultOptions() Options {
	return Options{IntMax: DefaultIntMax, ExternalDataSizeThreshold: DefaultExternalDataSizeThreshold}
}

// ErrInvalidOptions marks an Options value that Validate rejects.
var ErrInvalidOptions = errors.New("invalid options")

// Validate checks the options; its errors name the flag at fault.
func (o Options) Validate() error {
	bad := func(flag, format string, a ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalidOptions, flag, fmt.Sprintf(format, a...))
	}
	if o.IntMax <= 0 {
		return bad("int_max", "must be positive, got %d", o.IntMax)
	}
	switch o.Verbose {
	case 0, 1, 3:
	default:
		return bad("verbose", "must be 0, 1 or 3, got %d", o.Verbose)
	}
	if err := o.Budgets.validate(bad); err != nil {
		return err
	}
	if o.ExternalDataSizeThreshold < 0 {
		return bad("external_data_size_threshold", "must not be negative, got %d", o.ExternalDataSizeThreshold)
	}
	if loc := o.ExternalDataLocation; loc != "" {
		if !o.SaveAsExternalData {
			return bad("external_data_location", "is set but save_as_external_data is not")
		}
		clean := filepath.Clean(filepath.FromSlash(loc))
		if filepath.IsAbs(loc) || strings.HasPrefix(loc, "/") || clean == "." || clean == ".." ||
			strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
			return bad("external_data_location", "must be a file path relative to the output model, inside its directory, got %q", loc)
		}
	}
	return nil
}
