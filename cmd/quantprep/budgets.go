package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/dustin/go-humanize"
	"github.com/spf13/pflag"

	"github.com/quantprep/quantprep/pipeline"
	"github.com/quantprep/quantprep/pipeline/eval"
	"github.com/quantprep/quantprep/pipeline/infer"
	"github.com/quantprep/quantprep/pipeline/model"
	"github.com/quantprep/quantprep/pipeline/optimize"
)

// addBudgetFlags adds the flags of pipeline.Budgets to fl, for preprocess
// and serve alike (one table, one spelling): sizes take serve's size syntax
// (64Mi, 1GiB, ...), counts are plain numbers, and 0 (the default) means the
// pipeline's default or, through --server, the server's. note ends each
// flag's help.
func addBudgetFlags(fl *pflag.FlagSet, b *pipeline.Budgets, note string) {
	fl.Var((*budgetBytes)(&b.MaxFoldBytes), "max_fold_bytes",
		fmt.Sprintf("bytes constant folding may allocate for one node; a node over it stays unfolded, with a warning (0: %s%s)", humanize.IBytes(eval.DefaultMaxBytes), note))
	fl.Var((*budgetBytes)(&b.MaxFoldTotalBytes), "max_fold_total_bytes",
		fmt.Sprintf("bytes constant folding may add to the model over the run (0: %s%s)", humanize.IBytes(optimize.DefaultMaxFoldTotalBytes), note))
	fl.Int64Var(&b.MaxNodeVisits, "max_node_visits", 0,
		fmt.Sprintf("nodes shape inference may visit in one step, function bodies and subgraphs once per expansion; over it the run fails (0: %d or 4 times the model's nodes%s)", infer.DefaultMaxNodeVisits, note))
	fl.Int64Var(&b.MaxNodes, "max_nodes", 0,
		fmt.Sprintf("nodes the model may have, in every graph and function (0: %d, also the most allowed%s)", model.DefaultMaxNodes, note))
	fl.Var((*budgetBytes)(&b.MaxDenseBytes), "max_dense_bytes",
		fmt.Sprintf("bytes of the dense value of one sparse initializer (0: %s%s)", humanize.IBytes(eval.DefaultMaxBytes), note))
}

// budgetBytes is a byte budget flag: a size as byteSize takes, or 0 for the default.
type budgetBytes int64

func (b *budgetBytes) String() string { return strconv.FormatInt(int64(*b), 10) }
func (b *budgetBytes) Type() string   { return "bytes" }

func (b *budgetBytes) Set(s string) error {
	if strings.TrimSpace(s) == "0" {
		*b = 0
		return nil
	}
	var v byteSize
	if err := v.Set(s); err != nil {
		return fmt.Errorf("want 0 (the default) or a positive size like 1048576, 64Mi or 1GiB, got %q", s)
	}
	*b = budgetBytes(v)
	return nil
}
