package server

import (
	"context"
	"sync"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc/filters"
	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/stats"

	"github.com/quantprep/quantprep/pipeline"
)

// tracerName names quantprep's own spans' instrumentation scope.
const tracerName = "github.com/quantprep/quantprep/server"

// statsHandler is otelgrpc's server handler (a span per RPC, continuing the
// client's W3C trace context), or nil when tracing is off. Health checks are
// left out: the kubelet's probes would bury the requests.
func (x *extras) statsHandler() stats.Handler {
	if x.tracer == nil {
		return nil
	}
	return otelgrpc.NewServerHandler(
		otelgrpc.WithTracerProvider(x.tracer),
		otelgrpc.WithPropagators(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})),
		otelgrpc.WithFilter(filters.Not(filters.HealthCheck())),
	)
}

// instrument wraps the runner to record a span per pipeline step (children of
// the RPC's span) and the steps' durations, when tracing or metrics are on.
func (x *extras) instrument(r Runner) Runner {
	if x.tracer == nil && x.metrics == nil {
		return r
	}
	var tracer trace.Tracer
	if x.tracer != nil {
		tracer = x.tracer.Tracer(tracerName)
	}
	return RunnerFunc(func(ctx context.Context, in, out string, o pipeline.Options, progress func(pipeline.Event)) (*pipeline.Report, error) {
		if tracer == nil {
			rep, err := r.Run(ctx, in, out, o, progress)
			x.metrics.observeSteps(rep)
			return rep, err
		}
		ctx, run := tracer.Start(ctx, "quantprep.pipeline")
		if ri := requestFrom(ctx); ri != nil {
			run.SetAttributes(attribute.String("quantprep.request_id", ri.id))
		}
		var mu sync.Mutex
		open := map[string]trace.Span{}
		rep, err := r.Run(ctx, in, out, o, func(e pipeline.Event) {
			mu.Lock()
			switch e.Phase {
			case pipeline.Started:
				_, sp := tracer.Start(ctx, "quantprep.step."+e.Step, trace.WithAttributes(
					attribute.String("quantprep.step", e.Step), attribute.Int("quantprep.step.index", e.Index)))
				open[e.Step] = sp
			case pipeline.Finished:
				if sp := open[e.Step]; sp != nil {
					sp.End()
					delete(open, e.Step)
				}
			case pipeline.Skipped:
				_, sp := tracer.Start(ctx, "quantprep.step."+e.Step, trace.WithAttributes(
					attribute.String("quantprep.step", e.Step), attribute.Bool("quantprep.step.skipped", true)))
				sp.End()
			}
			mu.Unlock()
			progress(e)
		})
		mu.Lock()
		for _, sp := range open { // the step that failed
			if err != nil {
				sp.RecordError(err)
				sp.SetStatus(otelcodes.Error, err.Error())
			}
			sp.End()
		}
		mu.Unlock()
		if err != nil {
			run.RecordError(err)
			run.SetStatus(otelcodes.Error, err.Error())
		}
		run.End()
		if x.metrics != nil {
			x.metrics.observeSteps(rep)
		}
		return rep, err
	})
}
