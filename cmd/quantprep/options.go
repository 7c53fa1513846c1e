package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/quantprep/quantprep/pipeline"
)

// addOptionFlags adds a flag for each option of pipeline.Table that which
// accepts, bound to its field of o: preprocess takes them all, serve the
// budgets (one table, one spelling). Bools may stand alone or take a value
// (normalizeBoolArgs), sizes take serve's size syntax (64Mi, 1GiB, ...),
// lists a comma-separated list. A budget's help says what its 0 means, then
// note.
func addOptionFlags(fl *pflag.FlagSet, o *pipeline.Options, which func(*pipeline.Option) bool, note string) {
	for i := range pipeline.Table {
		op := &pipeline.Table[i]
		if !which(op) {
			continue
		}
		usage := op.Doc
		switch {
		case op.Ceiling > 0:
			usage += " (" + op.DefaultText() + note + ")"
		case op.Own:
			usage += " (quantprep's own flag)"
		}
		switch p := op.Field(o).(type) {
		case *bool:
			fl.BoolVar(p, op.Name, *p, usage)
		case *int64:
			if op.Kind == pipeline.Size {
				fl.Var((*sizeOption)(p), op.Name, usage)
			} else {
				fl.Int64Var(p, op.Name, *p, usage)
			}
		case *string:
			fl.StringVar(p, op.Name, *p, usage)
		case *[]string:
			fl.StringSliceVar(p, op.Name, *p, usage)
		default:
			panic(fmt.Sprintf("option %s: no flag for %T", op.Name, p))
		}
	}
}

func allOptions(*pipeline.Option) bool       { return true }
func budgetOptions(op *pipeline.Option) bool { return op.Ceiling > 0 }

// sizeOption is an option of Kind Size: a size as byteSize takes, or a
// plain number (0 for a budget's default; a negative one is left for
// pipeline.Options.Validate to refuse, in its words).
type sizeOption int64

func (b *sizeOption) String() string { return strconv.FormatInt(int64(*b), 10) }
func (b *sizeOption) Type() string   { return "bytes" }

func (b *sizeOption) Set(s string) error {
	if n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err == nil {
		*b = sizeOption(n)
		return nil
	}
	var v byteSize
	if err := v.Set(s); err != nil {
		return fmt.Errorf("want 0 (the default) or a positive size like 1048576, 64Mi or 1GiB, got %q", s)
	}
	*b = sizeOption(v)
	return nil
}
