package server

import (
	"fmt"
	"runtime"
	"strings"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"

	"github.com/quantprep/quantprep/pipeline"
)

// metrics are the server's Prometheus metrics: gRPC's own from
// go-grpc-middleware's provider (grpc_server_handled_total,
// grpc_server_handling_seconds, ...) and the service's, prefixed quantprep_.
type metrics struct {
	grpc        *grpcprom.ServerMetrics
	bytesIn     prometheus.Counter
	bytesOut    prometheus.Counter
	rejections  *prometheus.CounterVec
	processed   *prometheus.CounterVec
	stepSeconds *prometheus.HistogramVec
}

// stepBuckets cover a small model's milliseconds to a large one's minutes.
var stepBuckets = prometheus.ExponentialBuckets(0.005, 4, 10) // 5ms .. 22min

// newMetrics registers the metrics with reg; the gauges read the pool.
func newMetrics(reg prometheus.Registerer, p *pool, cfg Config, version string) (*metrics, error) {
	m := &metrics{
		grpc: grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(
			grpcprom.WithHistogramBuckets(stepBuckets))),
		bytesIn: prometheus.NewCounter(prometheus.CounterOpts{Name: "quantprep_received_bytes_total",
			Help: "Model and external-data bytes received in Preprocess requests."}),
		bytesOut: prometheus.NewCounter(prometheus.CounterOpts{Name: "quantprep_sent_bytes_total",
			Help: "Output model and external-data bytes sent in Preprocess responses."}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "quantprep_rejections_total",
			Help: "Preprocess requests turned away with RESOURCE_EXHAUSTED or UNAVAILABLE, by reason."}, []string{"reason"}),
		processed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "quantprep_models_processed_total",
			Help: "Preprocess requests finished, by outcome (the gRPC status code, as OK or InvalidArgument)."}, []string{"outcome"}),
		stepSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "quantprep_pipeline_step_duration_seconds",
			Help: "Time each pipeline step took, for steps that ran.", Buckets: stepBuckets}, []string{"step"}),
	}
	cs := []prometheus.Collector{
		m.grpc, m.bytesIn, m.bytesOut, m.rejections, m.processed, m.stepSeconds,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "quantprep_queue_depth",
			Help: "Uploaded requests waiting for a worker."}, func() float64 { return float64(p.queued()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "quantprep_queue_capacity",
			Help: "Requests that may wait for a worker (--queue_size)."}, func() float64 { return float64(cfg.QueueSize) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "quantprep_busy_workers",
			Help: "Workers running the pipeline."}, func() float64 { return float64(p.running()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "quantprep_workers",
			Help: "Workers (--workers)."}, func() float64 { return float64(cfg.Workers) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "quantprep_build_info",
			Help:        "Always 1; the labels say which build runs.",
			ConstLabels: prometheus.Labels{"version": version, "go_version": runtime.Version()}}, func() float64 { return 1 }),
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering metrics: %w", err)
		}
	}
	// Known label values start at zero, so that rate() sees the first one.
	for _, r := range []string{reasonQueueFull, reasonStreams, reasonTooLarge, reasonShutdown, reasonBudget} {
		m.rejections.WithLabelValues(r)
	}
	m.processed.WithLabelValues(codes.OK.String())
	return m, nil
}

// finished records the end of a Preprocess request.
func (m *metrics) finished(code codes.Code, reason string) {
	m.processed.WithLabelValues(code.String()).Inc()
	if reason != "" {
		m.rejections.WithLabelValues(reason).Inc()
	}
}

// observeSteps records the steps of a run that ran.
func (m *metrics) observeSteps(rep *pipeline.Report) {
	if rep == nil {
		return
	}
	for _, st := range rep.Steps {
		if !st.Skipped {
			m.stepSeconds.WithLabelValues(strings.ToLower(st.Name)).Observe(st.Duration.Seconds())
		}
	}
}
