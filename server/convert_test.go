package server

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	quantprepv1 "github.com/quantprep/quantprep/api/quantprep/v1"
	"github.com/quantprep/quantprep/client"
	"github.com/quantprep/quantprep/pipeline"
)

// TestWireFieldsAreOptions: the wire's Options and pipeline.Table name the
// same options, with fitting types; an option whose default is not the zero
// value has a field with presence, so that unset means the default.
func TestWireFieldsAreOptions(t *testing.T) {
	fields := (*quantprepv1.Options)(nil).ProtoReflect().Descriptor().Fields()
	for i := range pipeline.Table {
		op := &pipeline.Table[i]
		fd := optionField(op)
		if fd == nil {
			t.Errorf("option %s has no field in quantprep.v1.Options", op.Name)
			continue
		}
		var ok bool
		switch op.Kind {
		case pipeline.Bool:
			ok = fd.Kind() == protoreflect.BoolKind && !fd.IsList()
		case pipeline.Int, pipeline.Size:
			ok = (fd.Kind() == protoreflect.Int64Kind || fd.Kind() == protoreflect.Int32Kind) && !fd.IsList()
		case pipeline.String:
			ok = fd.Kind() == protoreflect.StringKind && !fd.IsList()
		case pipeline.List:
			ok = fd.Kind() == protoreflect.StringKind && fd.IsList()
		}
		if !ok {
			t.Errorf("option %s (kind %d): field of kind %v, list %v", op.Name, op.Kind, fd.Kind(), fd.IsList())
		}
		zero := reflect.ValueOf(op.Default()).IsValid() && reflect.ValueOf(op.Default()).IsZero() || op.Default() == nil
		if !zero && !fd.HasPresence() {
			t.Errorf("option %s defaults to %v but its field has no presence: unset would read as the zero value", op.Name, op.Default())
		}
	}
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if !wireOnly[fd.Name()] && pipeline.Lookup(string(fd.Name())) == nil {
			t.Errorf("field %s of quantprep.v1.Options is no pipeline option", fd.Name())
		}
	}
}

// nonDefault returns a valid value of op other than its default.
func nonDefault(t *testing.T, op *pipeline.Option) any {
	switch op.Kind {
	case pipeline.Bool:
		return !op.Default().(bool)
	case pipeline.Int, pipeline.Size:
		switch op.Name {
		case "verbose":
			return int64(3)
		}
		return op.Default().(int64) + 7
	case pipeline.String:
		return "w.bin"
	case pipeline.List:
		return []string{"EliminateIdentity", "ConstantFolding"}
	}
	t.Fatalf("option %s: unknown kind %d", op.Name, op.Kind)
	return nil
}

// TestOptionsRoundTrip: every option reaches the wire and comes back, at its
// default and at another value; unset fields read as the defaults.
func TestOptionsRoundTrip(t *testing.T) {
	if got := PipelineOptions(&quantprepv1.Options{}); !reflect.DeepEqual(got, pipeline.DefaultOptions()) {
		t.Errorf("empty wire options: %+v, want the defaults %+v", got, pipeline.DefaultOptions())
	}
	if got := PipelineOptions(WireOptions(pipeline.DefaultOptions())); !reflect.DeepEqual(got, pipeline.DefaultOptions()) {
		t.Errorf("the defaults come back as %+v", got)
	}
	for i := range pipeline.Table {
		op := &pipeline.Table[i]
		t.Run(op.Name, func(t *testing.T) {
			want := pipeline.DefaultOptions()
			if op.Name == "external_data_location" {
				want.SaveAsExternalData = true
			}
			reflect.ValueOf(op.Field(&want)).Elem().Set(reflect.ValueOf(nonDefault(t, op)))
			w := WireOptions(want)
			if !w.ProtoReflect().Has(optionField(op)) {
				t.Errorf("%s is not on the wire", op.Name)
			}
			// Through the bytes, as a client would send it.
			b, err := proto.Marshal(w)
			if err != nil {
				t.Fatal(err)
			}
			var back quantprepv1.Options
			if err := proto.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if got := PipelineOptions(&back); !reflect.DeepEqual(got, want) {
				t.Errorf("got %+v\nwant %+v", got, want)
			}
		})
	}
}

// TestInvalidOptionsOnTheWire: the server refuses invalid options with
// INVALID_ARGUMENT and pipeline.Options.Validate's very message, the one the
// CLI prints, before the run starts.
func TestInvalidOptionsOnTheWire(t *testing.T) {
	runner := RunnerFunc(func(ctx context.Context, in, out string, o pipeline.Options, p func(pipeline.Event)) (*pipeline.Report, error) {
		t.Errorf("the run started")
		return nil, context.Canceled
	})
	env := startServer(t, Config{}, runner)
	dir := t.TempDir()
	in := writeModel(t, testModel(16), dir, "m.onnx")
	tests := []struct {
		name string
		set  func(o *quantprepv1.Options)
	}{
		{"int_max", func(o *quantprepv1.Options) { o.IntMax = proto.Int64(0) }},
		{"verbose", func(o *quantprepv1.Options) { o.Verbose = 2 }},
		{"threshold", func(o *quantprepv1.Options) { o.ExternalDataSizeThreshold = proto.Int64(-1) }},
		{"location without external data", func(o *quantprepv1.Options) { o.ExternalDataLocation = "w.bin" }},
		{"location escapes", func(o *quantprepv1.Options) { o.SaveAsExternalData, o.ExternalDataLocation = true, "../w.bin" }},
		{"unknown optimizer", func(o *quantprepv1.Options) { o.DisabledOptimizers = []string{"NoSuchPass"} }},
		{"negative budget", func(o *quantprepv1.Options) { o.MaxFoldBytes = -1 }},
		{"nodes over the loader's bound", func(o *quantprepv1.Options) { o.MaxNodes = 1 << 40 }},
		{"over the ceiling", func(o *quantprepv1.Options) { o.MaxDenseBytes = 1 << 40 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &quantprepv1.Options{}
			tt.set(o)
			_, want := RequestOptions(o, pipeline.Budgets{})
			if want == nil {
				t.Fatal("RequestOptions accepts the options")
			}
			_, err := client.PreprocessFile(context.Background(), env.conn, in, filepath.Join(dir, "o.onnx"), o, nil)
			if st := status.Convert(err); st.Code() != codes.InvalidArgument || st.Message() != want.Error() {
				t.Errorf("got %v, want INVALID_ARGUMENT %q", err, want)
			}
			env.assertNoSpool(t)
		})
	}
}

// TestSummaryCarriesPassTimesAndDetails: the optimizer's time per pass and a
// step's details reach the wire.
func TestSummaryCarriesPassTimesAndDetails(t *testing.T) {
	rep := &pipeline.Report{Steps: []pipeline.StepReport{
		{Name: "symbolic_shape", Details: []string{`node "a" (Relu): a: float[2]`}},
		{Name: "optimize", PassDurations: map[string]time.Duration{"ConstantFolding": 1500 * time.Microsecond}},
	}}
	s := SummaryFromReport(rep, t.TempDir())
	if got := s.GetSteps()[0].GetDetails(); !reflect.DeepEqual(got, rep.Steps[0].Details) {
		t.Errorf("details %q", got)
	}
	if got := s.GetSteps()[1].GetPassWallTimeMicros(); !reflect.DeepEqual(got, map[string]int64{"ConstantFolding": 1500}) {
		t.Errorf("pass times %v", got)
	}
}
