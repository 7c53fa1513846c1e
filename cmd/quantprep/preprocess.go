package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	quantprepv1 "github.com/quantprep/quantprep/api/quantprep/v1"
	"github.com/quantprep/quantprep/client"
	"github.com/quantprep/quantprep/pipeline"
	"github.com/quantprep/quantprep/server"
)

// preprocessFlags are the reference tool's flags plus ours.
type preprocessFlags struct {
	input, output                                 string
	skipOptimization, skipONNXShape, skipSymbolic bool
	autoMerge, guessOutputRank                    bool
	intMax                                        int64
	verbose                                       int32
	saveAsExternalData, allTensorsToOneFile       bool
	externalDataLocation                          string
	externalDataSizeThreshold                     int64
	strictShapes                                  bool
	budgets                                       pipeline.Budgets
	remote                                        remote
	json                                          bool
}

func newPreprocessCmd(stdout, stderr io.Writer, f *preprocessFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "preprocess --input IN --output OUT [flags]",
		Short: "Pre-process a model for quantization",
		Long: `preprocess runs the pipeline on the model at --input and writes the result to
--output, with its external data beside it. The flags are those of ONNX Runtime's
quant_pre_process, with the same names and defaults; bool flags may stand alone
(--skip_optimization) or take a value (--skip_optimization True, =false, 1, 0).

It runs in this process unless --server (or $QUANTPREP_SERVER) names a
quantprep server.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.remote.applyEnv(); err != nil {
				return err
			}
			if f.input == "" || f.output == "" {
				return usagef("preprocess: --input and --output are required")
			}
			if err := checkInOut(f.input, f.output); err != nil {
				return err
			}
			if f.remote.timeout < 0 {
				return usagef("preprocess: --timeout must not be negative, got %v", f.remote.timeout)
			}
			opts := f.options()
			if err := opts.Validate(); err != nil {
				return usagef("preprocess: %v", err)
			}
			if err := server.PipelineOptions(opts).Validate(); err != nil {
				return usagef("preprocess: %v", err)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if f.remote.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, f.remote.timeout)
				defer cancel()
			}
			show := newProgress(stderr, f.verbose)
			var sum *quantprepv1.Summary
			var err error
			if f.remote.server != "" {
				sum, err = preprocessRemote(ctx, &f.remote, f.input, f.output, opts, show)
			} else {
				sum, err = preprocessLocalGuarded(ctx, f.input, f.output, opts, show, stderr)
			}
			if err != nil {
				return err
			}
			show.done(sum)
			if f.json {
				return printJSON(stdout, sum)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.SortFlags = false
	fl.StringVar(&f.input, "input", "", "path of the input model (required)")
	fl.StringVar(&f.output, "output", "", "path of the output model (required)")
	fl.BoolVar(&f.skipOptimization, "skip_optimization", false, "skip graph optimization")
	fl.BoolVar(&f.skipONNXShape, "skip_onnx_shape", false, "skip ONNX shape inference")
	fl.BoolVar(&f.skipSymbolic, "skip_symbolic_shape", false, "skip symbolic shape inference")
	fl.BoolVar(&f.autoMerge, "auto_merge", false, "merge conflicting symbolic dims instead of failing")
	fl.Int64Var(&f.intMax, "int_max", pipeline.DefaultIntMax, "largest integer symbolic shape inference treats as a real value")
	fl.BoolVar(&f.guessOutputRank, "guess_output_rank", false, "give outputs of unknown ops the rank of their first input")
	fl.Int32Var(&f.verbose, "verbose", 0, "verbosity of shape inference: 0, 1 or 3")
	fl.BoolVar(&f.saveAsExternalData, "save_as_external_data", false, "save the weights as external data")
	fl.BoolVar(&f.allTensorsToOneFile, "all_tensors_to_one_file", false, "put all external data in one file")
	fl.StringVar(&f.externalDataLocation, "external_data_location", "", "external data file name, relative to the output model")
	fl.Int64Var(&f.externalDataSizeThreshold, "external_data_size_threshold", pipeline.DefaultExternalDataSizeThreshold,
		"tensors of at least this many bytes go to external data")
	fl.BoolVar(&f.strictShapes, "strict_shapes", false, "fail when an inferred shape conflicts with one already in the model (quantprep's own flag)")
	addBudgetFlags(fl, &f.budgets, "; with --server, the server's")
	f.remote.register(fl)
	fl.BoolVar(&f.json, "json", false, "print the summary as JSON on stdout")
	return cmd
}

// options builds the wire options; the in-process path converts them as the
// server does, so both paths read the flags the same way.
func (f *preprocessFlags) options() *quantprepv1.Options {
	return &quantprepv1.Options{
		ModelName:                 filepath.Base(f.input),
		OutputName:                filepath.Base(f.output),
		SkipOptimization:          f.skipOptimization,
		SkipOnnxShape:             f.skipONNXShape,
		SkipSymbolicShape:         f.skipSymbolic,
		AutoMerge:                 f.autoMerge,
		IntMax:                    proto.Int64(f.intMax),
		GuessOutputRank:           f.guessOutputRank,
		Verbose:                   f.verbose,
		SaveAsExternalData:        f.saveAsExternalData,
		AllTensorsToOneFile:       f.allTensorsToOneFile,
		ExternalDataLocation:      f.externalDataLocation,
		ExternalDataSizeThreshold: proto.Int64(f.externalDataSizeThreshold),
		StrictShapes:              f.strictShapes,
		MaxFoldBytes:              f.budgets.MaxFoldBytes,
		MaxFoldTotalBytes:         f.budgets.MaxFoldTotalBytes,
		MaxNodeVisits:             f.budgets.MaxNodeVisits,
		MaxNodes:                  f.budgets.MaxNodes,
		MaxDenseBytes:             f.budgets.MaxDenseBytes,
	}
}

func preprocessLocal(ctx context.Context, in, out string, opts *quantprepv1.Options, show *progress) (*quantprepv1.Summary, error) {
	rep, err := pipeline.Run(ctx, in, out, server.PipelineOptions(opts), func(e pipeline.Event) {
		show.event(server.ProgressFromEvent(e))
	})
	if err != nil {
		return nil, err
	}
	return server.SummaryFromReport(rep, filepath.Dir(out)), nil
}

func preprocessRemote(ctx context.Context, r *remote, in, out string, opts *quantprepv1.Options, show *progress) (*quantprepv1.Summary, error) {
	conn, err := r.dial()
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return client.PreprocessFile(ctx, conn, in, out, opts, show.event)
}

// printJSON prints the summary with proto field names, indented stably
// (protojson varies its whitespace on purpose).
func printJSON(w io.Writer, sum *quantprepv1.Summary) error {
	b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(sum)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err = w.Write(buf.Bytes())
	return err
}
