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

	quantprepv1 "github.com/quantprep/quantprep/api/quantprep/v1"
	"github.com/quantprep/quantprep/client"
	"github.com/quantprep/quantprep/pipeline"
	"github.com/quantprep/quantprep/server"
)

// preprocessFlags are the paths, the options (pipeline.Table: the reference
// tool's flags plus ours) and the command's own flags.
type preprocessFlags struct {
	input, output string
	opts          pipeline.Options
	remote        remote
	json          bool
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
			// The server's rules, in its words (the same call), before
			// anything is read or sent.
			if err := f.opts.Validate(); err != nil {
				return usagef("preprocess: %v", err)
			}
			opts := f.options()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if f.remote.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, f.remote.timeout)
				defer cancel()
			}
			show := newProgress(stderr, f.opts.Verbose)
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
	f.opts = pipeline.DefaultOptions()
	addOptionFlags(fl, &f.opts, allOptions, "; with --server, the server's")
	f.remote.register(fl, true)
	fl.BoolVar(&f.json, "json", false, "print the summary as JSON on stdout")
	return cmd
}

// options builds the wire options; the in-process path converts them back as
// the server does, so both paths read the flags the same way.
func (f *preprocessFlags) options() *quantprepv1.Options {
	o := server.WireOptions(f.opts)
	o.ModelName, o.OutputName = filepath.Base(f.input), filepath.Base(f.output)
	return o
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
	if r.sharedDir != "" {
		return client.PreprocessShared(ctx, conn, r.sharedDir, in, out, opts, show.event)
	}
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
