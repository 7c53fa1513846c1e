// Command quantprep prepares ONNX models for quantization, as ONNX Runtime's
// quant_pre_process does: in process, against a remote quantprep server, or as
// that server.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/grpc/status"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// usageError marks a mistake in the command line; it exits with exitUsage.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line args and returns the process's exit code.
func run(args []string, stdout, stderr io.Writer) int {
	return runContext(context.Background(), args, stdout, stderr)
}

// runContext is run with a context whose end stops the command, as a signal does.
func runContext(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	ran := false // set once a command's RunE starts: errors before it are usage errors
	root := newRootCmd(stdout, stderr, &ran)
	root.SetArgs(normalizeBoolArgs(root, args))
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ue usageError
	if errors.As(err, &ue) || !ran {
		fmt.Fprintf(stderr, "quantprep: %v\nRun 'quantprep --help' for usage.\n", err)
		return exitUsage
	}
	code := exitFailure
	if isInternal(err) {
		code = exitInternal
	}
	if st, ok := status.FromError(err); ok {
		fmt.Fprintf(stderr, "quantprep: server: %s: %s\n", st.Code(), st.Message())
	} else {
		fmt.Fprintf(stderr, "quantprep: %v\n", err)
	}
	return code
}

func newRootCmd(stdout, stderr io.Writer, ran *bool) *cobra.Command {
	root := &cobra.Command{
		Use:   "quantprep",
		Short: "Prepare ONNX models for quantization",
		Long: `quantprep prepares an ONNX model for quantization as ONNX Runtime's
quant_pre_process does: symbolic shape inference, graph optimization, ONNX shape
inference, then it tags and saves the model. It runs in process, against a remote
quantprep server (--server), or as that server (quantprep serve).`,
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SetOut(stderr)
			cmd.Help()
			return usagef("no command given")
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	mark := func(c *cobra.Command) *cobra.Command {
		inner := c.RunE
		c.RunE = func(cmd *cobra.Command, args []string) error {
			*ran = true
			return inner(cmd, args)
		}
		c.Args = func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("%s: unexpected argument %q", cmd.Name(), args[0])
			}
			return nil
		}
		return c
	}
	root.AddCommand(mark(newPreprocessCmd(stdout, stderr, &preprocessFlags{})), mark(newServeCmd(stderr)), mark(newVersionCmd(stdout)))
	return root
}

// boolValues are the words that may follow a bool flag as its value, as in the
// reference tool's "--skip_optimization True".
var boolValues = map[string]bool{"True": true, "False": true, "true": true, "false": true, "1": true, "0": true, "TRUE": true, "FALSE": true}

// normalizeBoolArgs rewrites "--flag VALUE" into "--flag=VALUE" for bool flags
// followed by a true/false word, so that both the reference tool's form and the
// bare flag work.
func normalizeBoolArgs(root *cobra.Command, args []string) []string {
	bools := map[string]bool{}
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if f.Value.Type() == "bool" {
				bools[f.Name] = true
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		if name, ok := strings.CutPrefix(a, "--"); ok && bools[name] && i+1 < len(args) && boolValues[args[i+1]] {
			out = append(out, a+"="+args[i+1])
			i++
			continue
		}
		out = append(out, a)
	}
	return out
}
