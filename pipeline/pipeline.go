// Package pipeline prepares an ONNX model for quantization in the reference
// tool's order: symbolic shape inference, graph optimization, ONNX shape
// inference, then the metadata tag and save. It knows nothing of gRPC or
// logging: progress goes to a callback and results into a Report.
package pipeline

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/quantprep/quantprep/pipeline/infer"
	"github.com/quantprep/quantprep/pipeline/model"
	"github.com/quantprep/quantprep/pipeline/optimize"
)

// Phase says where a step is.
type Phase int

// Phases of a step.
const (
	Started Phase = iota + 1
	Finished
	Skipped
)

func (p Phase) String() string {
	switch p {
	case Started:
		return "started"
	case Finished:
		return "finished"
	case Skipped:
		return "skipped"
	}
	return "unknown"
}

// Event is a progress report.
type Event struct {
	Step    string
	Phase   Phase
	Index   int // 1-based position of the step
	Total   int
	Message string
}

// StepReport is what one step did.
type StepReport struct {
	Name             string
	Skipped          bool
	Duration         time.Duration
	NodesBefore      int
	NodesAfter       int
	FullShapesBefore int
	FullShapesAfter  int
	Warnings         []string
	Counts           map[string]int64
	// PassDurations is, for the optimize step, the time each optimizer pass
	// took, summed over its repetitions and subgraphs, by pass name (the
	// rewrite rules run inside Level1_RuleBasedTransformer).
	PassDurations map[string]time.Duration
	// Details are the step's detailed log, with Verbose 3: for shape
	// inference, each node output's inferred type.
	Details []string
}

// Report is the summary of a run.
type Report struct {
	Steps             []StepReport
	NodesBefore       int
	NodesAfter        int
	NodeOutputsBefore int
	NodeOutputsAfter  int
	FullShapesBefore  int
	FullShapesAfter   int
	Warnings          []string
	// Files are the paths written, the model first.
	Files    []string
	Duration time.Duration
}

// step is one stage of the pipeline.
type step struct {
	name string
	skip func(Options) bool
	run  func(ctx context.Context, m *model.Model, o Options, r *StepReport) error
}

// steps is the pipeline, in the reference tool's order.
var steps = []step{
	{name: "symbolic_shape", skip: func(o Options) bool { return o.SkipSymbolicShape }, run: runSymbolic},
	{name: "optimize", skip: func(o Options) bool { return o.SkipOptimization }, run: runOptimize},
	{name: "onnx_shape", skip: func(o Options) bool { return o.SkipONNXShape }, run: runONNXShape},
	{name: "tag", run: runTag},
}

func runSymbolic(ctx context.Context, m *model.Model, o Options, r *StepReport) error {
	res, err := infer.Run(ctx, m, infer.Config{
		Mode: infer.Symbolic, AutoMerge: o.AutoMerge, IntMax: o.IntMax,
		GuessOutputRank: o.GuessOutputRank, Verbose: int(o.Verbose), Strict: o.StrictShapes,
		MaxNodeVisits: o.Budgets.MaxNodeVisits,
	})
	if err != nil {
		return err
	}
	r.Warnings, r.Counts, r.Details = res.Warnings, res.Counts, res.Trace
	return nil
}

func runOptimize(ctx context.Context, m *model.Model, o Options, r *StepReport) error {
	res, err := optimize.Run(ctx, m, optimize.Config{Disabled: o.DisabledOptimizers,
		MaxFoldBytes: o.Budgets.MaxFoldBytes, MaxFoldTotalBytes: o.Budgets.MaxFoldTotalBytes})
	if err != nil {
		return err
	}
	r.Warnings, r.Counts, r.PassDurations = res.Warnings, res.Rewrites, res.Durations
	return nil
}

func runONNXShape(ctx context.Context, m *model.Model, o Options, r *StepReport) error {
	res, err := infer.Run(ctx, m, infer.Config{Mode: infer.ONNX, Verbose: int(o.Verbose), Strict: o.StrictShapes,
		MaxNodeVisits: o.Budgets.MaxNodeVisits})
	if err != nil {
		return err
	}
	r.Warnings, r.Counts, r.Details = res.Warnings, res.Counts, res.Trace
	return nil
}

func runTag(_ context.Context, m *model.Model, _ Options, r *StepReport) error {
	added := int64(0)
	if m.Tag() {
		added = 1
	}
	r.Counts = map[string]int64{"tagged": added}
	return nil
}

// Run pre-processes the model at inPath and writes the result to outPath.
func Run(ctx context.Context, inPath, outPath string, o Options, progress func(Event)) (rep *Report, err error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	// The model file is mapped, not read (model.Load). Should another
	// process truncate it while this runs, reading a lost page faults: that
	// becomes a panic of this goroutine (every step runs in it), recovered
	// here into an error, instead of a crash of the process.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			f, ok := p.(interface{ Addr() uintptr })
			if !ok {
				panic(p)
			}
			rep, err = nil, fmt.Errorf("%w: %s changed while it was being read (memory fault at %#x)", model.ErrInvalid, filepath.Base(inPath), f.Addr())
		}
	}()
	start := time.Now()
	m, err := model.Load(inPath)
	if err != nil {
		return nil, err
	}
	// Weights that the optimizer computes (a folded Transpose of every
	// MatMul weight, in torch exports) are written when the model is saved,
	// straight into the output, or to temporary files beside it if a step
	// reads them first: they never stay in memory, a model over 2 GB runs in
	// far less memory than its size, and save streams them like external data.
	m.EnableSpill(filepath.Dir(outPath))
	m.SetDiskBudget(model.DiskBudgetFrom(ctx))
	defer m.Close()
	rep, err = RunModel(ctx, m, outPath, o, progress)
	if err != nil {
		return nil, err
	}
	// The run's wall time includes reading the model, as a user timing the
	// command would count it.
	rep.Duration = time.Since(start)
	return rep, nil
}

// RunModel runs the pipeline on a loaded model (which it modifies) and saves it to outPath.
func RunModel(ctx context.Context, m *model.Model, outPath string, o Options, progress func(Event)) (*Report, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if progress == nil {
		progress = func(Event) {}
	}
	if !o.SaveAsExternalData {
		// Refuse at once what save would refuse after the whole pipeline.
		if floor := m.InlineFloor(); floor > model.MaxInlineSize {
			return nil, fmt.Errorf("%w: the weights that the optimizer cannot remove are %d bytes, over protobuf's 2 GB limit: save it with save_as_external_data (refused before running)",
				model.ErrTooLarge, floor)
		}
	}
	start := time.Now()
	if err := prepare(m, o.Budgets); err != nil {
		return nil, err
	}
	// Nodes may come in any order that ONNX Runtime accepts (it sorts them
	// when it loads a graph); every step, and the saved model, sees them sorted.
	if err := model.SortTopologically(m.Graph()); err != nil {
		return nil, err
	}
	rep := &Report{NodesBefore: m.NodeCount()}
	rep.NodeOutputsBefore, rep.FullShapesBefore = ShapeStats(m)
	total := len(steps) + 1
	for i, s := range steps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		sr := StepReport{Name: s.name}
		if s.skip != nil && s.skip(o) {
			sr.Skipped = true
			rep.Steps = append(rep.Steps, sr)
			progress(Event{Step: s.name, Phase: Skipped, Index: i + 1, Total: total})
			continue
		}
		progress(Event{Step: s.name, Phase: Started, Index: i + 1, Total: total})
		t0 := time.Now()
		sr.NodesBefore = m.NodeCount()
		_, sr.FullShapesBefore = ShapeStats(m)
		if err := runStep(ctx, s, m, o, &sr); err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		sr.Duration = time.Since(t0)
		sr.NodesAfter = m.NodeCount()
		_, sr.FullShapesAfter = ShapeStats(m)
		rep.Warnings = append(rep.Warnings, sr.Warnings...)
		rep.Steps = append(rep.Steps, sr)
		progress(Event{Step: s.name, Phase: Finished, Index: i + 1, Total: total,
			Message: fmt.Sprintf("%d nodes, %d full shapes", sr.NodesAfter, sr.FullShapesAfter)})
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	progress(Event{Step: "save", Phase: Started, Index: total, Total: total})
	t0 := time.Now()
	files, err := m.SaveContext(ctx, outPath, model.SaveOptions{
		ExternalData:        o.SaveAsExternalData,
		AllTensorsToOneFile: o.AllTensorsToOneFile,
		Location:            o.ExternalDataLocation,
		SizeThreshold:       o.ExternalDataSizeThreshold,
		Sync:                o.Fsync,
	})
	if err != nil {
		return nil, fmt.Errorf("save: %w", err)
	}
	rep.Steps = append(rep.Steps, StepReport{Name: "save", Duration: time.Since(t0),
		NodesBefore: m.NodeCount(), NodesAfter: m.NodeCount(),
		Counts: map[string]int64{"files": int64(len(files))}})
	progress(Event{Step: "save", Phase: Finished, Index: total, Total: total})
	rep.Files = files
	rep.NodesAfter = m.NodeCount()
	rep.NodeOutputsAfter, rep.FullShapesAfter = ShapeStats(m)
	rep.Duration = time.Since(start)
	return rep, nil
}
