package server

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	quantprepv1 "github.com/quantprep/quantprep/api/quantprep/v1"
	"github.com/quantprep/quantprep/client"
	"github.com/quantprep/quantprep/pipeline"
	"github.com/quantprep/quantprep/pipeline/eval"
)

// TestRequestBudgetsOnTheWire: the budgets a request sends reach the
// pipeline, lowered or left to the server's; more than the server's, or
// negative, is INVALID_ARGUMENT naming the field, and the run never starts.
func TestRequestBudgetsOnTheWire(t *testing.T) {
	seen := make(chan pipeline.Budgets, 1)
	runner := RunnerFunc(func(ctx context.Context, in, out string, o pipeline.Options, p func(pipeline.Event)) (*pipeline.Report, error) {
		seen <- o.Budgets
		return pipeline.Run(ctx, in, out, o, p)
	})
	ceil := pipeline.Budgets{MaxFoldBytes: 1 << 20, MaxNodes: 1000}
	env := startServer(t, Config{Budgets: ceil}, runner)
	dir := t.TempDir()
	in := writeModel(t, testModel(16), dir, "m.onnx")
	tests := []struct {
		name  string
		set   func(o *quantprepv1.Options)
		want  pipeline.Budgets
		field string
	}{
		{"unset", func(*quantprepv1.Options) {}, ceil, ""},
		{"lowered", func(o *quantprepv1.Options) { o.MaxFoldBytes, o.MaxNodeVisits, o.MaxDenseBytes = 1<<10, 100, 1<<10 },
			pipeline.Budgets{MaxFoldBytes: 1 << 10, MaxNodeVisits: 100, MaxNodes: 1000, MaxDenseBytes: 1 << 10}, ""},
		{"fold over the server's", func(o *quantprepv1.Options) { o.MaxFoldBytes = 2 << 20 }, pipeline.Budgets{}, "max_fold_bytes"},
		{"nodes over the server's", func(o *quantprepv1.Options) { o.MaxNodes = 1001 }, pipeline.Budgets{}, "max_nodes"},
		{"fold total over the default", func(o *quantprepv1.Options) { o.MaxFoldTotalBytes = 1 << 40 }, pipeline.Budgets{}, "max_fold_total_bytes"},
		// The server refuses it before reading the model (the client does not
		// check values: pipeline's table is their one rule set).
		{"negative", func(o *quantprepv1.Options) { o.MaxDenseBytes = -1 }, pipeline.Budgets{}, "max_dense_bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := skipAll()
			tt.set(o)
			_, err := client.PreprocessFile(context.Background(), env.conn, in, filepath.Join(dir, "o.onnx"), o, nil)
			if tt.field != "" {
				if c := status.Code(err); c != codes.InvalidArgument || !strings.Contains(err.Error(), "invalid options: "+tt.field+": ") {
					t.Errorf("got %v, want InvalidArgument naming %s", err, tt.field)
				}
				select {
				case b := <-seen:
					t.Errorf("the run started with %+v", b)
				default:
				}
				env.assertNoSpool(t)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := <-seen; got != tt.want {
				t.Errorf("the pipeline got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestEstimateUsesBudgets: a request that lowers its budgets is estimated
// lower, and one that skips optimization is not charged a fold.
func TestEstimateUsesBudgets(t *testing.T) {
	def := estimateMemory(1<<20, 100, 0, pipeline.DefaultOptions())
	low := pipeline.DefaultOptions()
	low.Budgets = pipeline.Budgets{MaxFoldBytes: 1 << 20, MaxDenseBytes: 1 << 20}
	skip := pipeline.DefaultOptions()
	skip.SkipOptimization = true
	if l := estimateMemory(1<<20, 100, 0, low); def-l != 2*(eval.DefaultMaxBytes-(1<<20)) {
		t.Errorf("lowered budgets: estimate %d, default %d", l, def)
	}
	if s := estimateMemory(1<<20, 100, 0, skip); def-s != eval.DefaultMaxBytes {
		t.Errorf("skip_optimization: estimate %d, default %d", s, def)
	}
}

func TestNewRefusesBadBudgets(t *testing.T) {
	for _, b := range []pipeline.Budgets{{MaxFoldBytes: -1}, {MaxNodes: 1 << 40}} {
		if _, err := New(Config{TempDir: t.TempDir(), Budgets: b}, nil, nil); !errors.Is(err, pipeline.ErrInvalidOptions) {
			t.Errorf("New with budgets %+v: %v, want an invalid-options error", b, err)
		}
	}
}
