package server

import (
	"fmt"
	"os"
	"path/filepath"

	quantprepv1 "github.com/quantprep/quantprep/api/quantprep/v1"
	"github.com/quantprep/quantprep/pipeline"
)

// DefaultModelName names an upload whose options give no model_name.
const DefaultModelName = "model.onnx"

// PipelineOptions turns the wire options into the pipeline's, applying the
// reference defaults to the fields left unset. It does not validate them.
func PipelineOptions(o *quantprepv1.Options) pipeline.Options {
	po := pipeline.DefaultOptions()
	po.SkipOptimization = o.GetSkipOptimization()
	po.SkipONNXShape = o.GetSkipOnnxShape()
	po.SkipSymbolicShape = o.GetSkipSymbolicShape()
	po.AutoMerge = o.GetAutoMerge()
	if o.IntMax != nil {
		po.IntMax = o.GetIntMax()
	}
	po.GuessOutputRank = o.GetGuessOutputRank()
	po.Verbose = int(o.GetVerbose())
	po.SaveAsExternalData = o.GetSaveAsExternalData()
	po.AllTensorsToOneFile = o.GetAllTensorsToOneFile()
	po.ExternalDataLocation = o.GetExternalDataLocation()
	if o.ExternalDataSizeThreshold != nil {
		po.ExternalDataSizeThreshold = o.GetExternalDataSizeThreshold()
	}
	po.StrictShapes = o.GetStrictShapes()
	po.Budgets = pipeline.Budgets{
		MaxFoldBytes: o.GetMaxFoldBytes(), MaxFoldTotalBytes: o.GetMaxFoldTotalBytes(),
		MaxNodeVisits: o.GetMaxNodeVisits(), MaxNodes: o.GetMaxNodes(), MaxDenseBytes: o.GetMaxDenseBytes(),
	}
	return po
}

// RequestBudgets gives a request the server's budgets (ceil, Config.Budgets)
// where it leaves one at 0, and refuses one over the server's: a request may
// lower a budget, never raise it, so the server's memory estimate (and its
// operator's bounds) hold whatever a client asks. An unset server budget's
// ceiling is the pipeline's default (for max_node_visits the least default,
// DefaultMaxNodeVisits: its scaling with the model's size applies only when
// the request leaves it at 0). The error names the field and wraps
// pipeline.ErrInvalidOptions (INVALID_ARGUMENT).
func RequestBudgets(req, ceil pipeline.Budgets) (pipeline.Budgets, error) {
	lim := ceil.WithDefaults()
	out := ceil
	for _, f := range []struct {
		field    string
		req, lim int64
		out      *int64
	}{
		{"max_fold_bytes", req.MaxFoldBytes, lim.MaxFoldBytes, &out.MaxFoldBytes},
		{"max_fold_total_bytes", req.MaxFoldTotalBytes, lim.MaxFoldTotalBytes, &out.MaxFoldTotalBytes},
		{"max_node_visits", req.MaxNodeVisits, lim.MaxNodeVisits, &out.MaxNodeVisits},
		{"max_nodes", req.MaxNodes, lim.MaxNodes, &out.MaxNodes},
		{"max_dense_bytes", req.MaxDenseBytes, lim.MaxDenseBytes, &out.MaxDenseBytes},
	} {
		switch {
		case f.req > f.lim:
			return pipeline.Budgets{}, fmt.Errorf("%w: %s: %d is over this server's limit of %d (a request may only lower it)",
				pipeline.ErrInvalidOptions, f.field, f.req, f.lim)
		case f.req > 0:
			*f.out = f.req
		}
	}
	return out, nil
}

// ProgressFromEvent turns a pipeline event into its wire form.
func ProgressFromEvent(e pipeline.Event) *quantprepv1.Progress {
	ph := quantprepv1.Progress_PHASE_UNSPECIFIED
	switch e.Phase {
	case pipeline.Started:
		ph = quantprepv1.Progress_PHASE_STARTED
	case pipeline.Finished:
		ph = quantprepv1.Progress_PHASE_FINISHED
	case pipeline.Skipped:
		ph = quantprepv1.Progress_PHASE_SKIPPED
	}
	return &quantprepv1.Progress{Step: e.Step, Phase: ph, Message: e.Message, Index: int32(e.Index), Total: int32(e.Total)}
}

// SummaryFromReport turns a pipeline report into its wire form. Files are named
// relative to outDir (the output model's directory), with forward slashes, and
// sized from the disk.
func SummaryFromReport(r *pipeline.Report, outDir string) *quantprepv1.Summary {
	s := &quantprepv1.Summary{
		NodesBefore:       int64(r.NodesBefore),
		NodesAfter:        int64(r.NodesAfter),
		NodeOutputsBefore: int64(r.NodeOutputsBefore),
		NodeOutputsAfter:  int64(r.NodeOutputsAfter),
		FullShapesBefore:  int64(r.FullShapesBefore),
		FullShapesAfter:   int64(r.FullShapesAfter),
		Warnings:          append([]string(nil), r.Warnings...),
		WallTimeMicros:    r.Duration.Microseconds(),
	}
	for _, st := range r.Steps {
		ss := &quantprepv1.StepSummary{
			Name:             st.Name,
			Skipped:          st.Skipped,
			WallTimeMicros:   st.Duration.Microseconds(),
			NodesBefore:      int64(st.NodesBefore),
			NodesAfter:       int64(st.NodesAfter),
			FullShapesBefore: int64(st.FullShapesBefore),
			FullShapesAfter:  int64(st.FullShapesAfter),
			Warnings:         append([]string(nil), st.Warnings...),
		}
		if len(st.Counts) > 0 {
			ss.Counts = make(map[string]int64, len(st.Counts))
			for k, v := range st.Counts {
				ss.Counts[k] = v
			}
		}
		s.Steps = append(s.Steps, ss)
	}
	for i, f := range r.Files {
		name := f
		if rel, err := filepath.Rel(outDir, f); err == nil {
			name = filepath.ToSlash(rel)
		}
		of := &quantprepv1.OutputFile{Name: name, ExternalData: i > 0}
		if st, err := os.Stat(f); err == nil {
			of.Size = st.Size()
		}
		s.Files = append(s.Files, of)
	}
	return s
}
