package server

import (
	"os"
	"path/filepath"

	"google.golang.org/protobuf/reflect/protoreflect"

	quantprepv1 "github.com/quantprep/quantprep/api/quantprep/v1"
	"github.com/quantprep/quantprep/pipeline"
)

// DefaultModelName names an upload whose options give no model_name.
const DefaultModelName = "model.onnx"

// wireOnly are the fields of the wire's Options that are not pipeline
// options: the upload's file names.
var wireOnly = map[protoreflect.Name]bool{"model_name": true, "output_name": true}

// optionField is the field of the wire's Options that carries op: the field
// of the same name. The tests check that every option has one, of a fitting
// type, and that every field but wireOnly's is an option.
func optionField(op *pipeline.Option) protoreflect.FieldDescriptor {
	return (*quantprepv1.Options)(nil).ProtoReflect().Descriptor().Fields().ByName(protoreflect.Name(op.Name))
}

// PipelineOptions turns the wire options into the pipeline's, option by
// option of pipeline.Table, each from the field of its name: a field left
// unset takes the option's default. It does not validate them
// (RequestOptions does).
func PipelineOptions(o *quantprepv1.Options) pipeline.Options {
	po := pipeline.DefaultOptions()
	m := o.ProtoReflect()
	for i := range pipeline.Table {
		op := &pipeline.Table[i]
		fd := optionField(op)
		if fd == nil || !m.Has(fd) {
			continue
		}
		v := m.Get(fd)
		switch p := op.Field(&po).(type) {
		case *bool:
			*p = v.Bool()
		case *int64:
			*p = v.Int()
		case *string:
			*p = v.String()
		case *[]string:
			l := v.List()
			*p = make([]string, l.Len())
			for j := range *p {
				(*p)[j] = l.Get(j).String()
			}
		}
	}
	return po
}

// WireOptions is PipelineOptions' inverse, without the file names: every
// option becomes the field of its name, set where the field has presence or
// the value is not the zero value.
func WireOptions(po pipeline.Options) *quantprepv1.Options {
	o := &quantprepv1.Options{}
	m := o.ProtoReflect()
	for i := range pipeline.Table {
		op := &pipeline.Table[i]
		fd := optionField(op)
		if fd == nil {
			continue
		}
		switch p := op.Field(&po).(type) {
		case *bool:
			m.Set(fd, protoreflect.ValueOfBool(*p))
		case *int64:
			if fd.Kind() == protoreflect.Int32Kind {
				// Validate refuses what does not fit (verbose is 0, 1 or 3).
				m.Set(fd, protoreflect.ValueOfInt32(int32(*p)))
			} else {
				m.Set(fd, protoreflect.ValueOfInt64(*p))
			}
		case *string:
			m.Set(fd, protoreflect.ValueOfString(*p))
		case *[]string:
			l := m.Mutable(fd).List()
			for _, s := range *p {
				l.Append(protoreflect.ValueOfString(s))
			}
		}
	}
	return o
}

// RequestOptions turns a request's options into the pipeline's, checks them
// (pipeline.Options.Validate, the rules the CLI applies too) and gives its
// budgets the server's ceilings (pipeline.RequestBudgets): a request may
// lower a budget, and one asking for more is refused naming the field. Its
// errors wrap pipeline.ErrInvalidOptions (INVALID_ARGUMENT).
func RequestOptions(o *quantprepv1.Options, ceil pipeline.Budgets) (pipeline.Options, error) {
	po := PipelineOptions(o)
	if err := po.Validate(); err != nil {
		return pipeline.Options{}, err
	}
	var err error
	if po.Budgets, err = pipeline.RequestBudgets(po.Budgets, ceil); err != nil {
		return pipeline.Options{}, err
	}
	return po, nil
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
			Details:          append([]string(nil), st.Details...),
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
		if len(st.PassDurations) > 0 {
			ss.PassWallTimeMicros = make(map[string]int64, len(st.PassDurations))
			for k, v := range st.PassDurations {
				ss.PassWallTimeMicros[k] = v.Microseconds()
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
