package deploy

import (
	"strconv"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
)

// TestMetricsScrapedAndDrained checks the shared service's platform settings:
// metrics on, on the port the scrape annotations and the Service name; a
// termination grace that covers the drain delay and the shutdown timeout.
func TestMetricsScrapedAndDrained(t *testing.T) {
	m := manifests(t)
	dep := only[*appsv1.Deployment](t, m["deployment.yaml"])
	svc := only[*corev1.Service](t, m["service.yaml"])
	var c corev1.Container
	for _, cc := range dep.Spec.Template.Spec.Containers {
		if isQuantprep(cc) {
			c = cc
		}
	}
	if _, ok := envValue(c, "QUANTPREP_METRICS_LISTEN"); !ok {
		t.Error("deployment.yaml: metrics are off (no QUANTPREP_METRICS_LISTEN)")
	}
	var metricsPort int32
	for _, p := range c.Ports {
		if p.Name == "metrics" {
			metricsPort = p.ContainerPort
		}
	}
	ann := dep.Spec.Template.Annotations
	if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != strconv.Itoa(int(metricsPort)) || ann["prometheus.io/path"] != "/metrics" {
		t.Errorf("deployment.yaml: scrape annotations %v, want port %d and /metrics", ann, metricsPort)
	}
	found := false
	for _, p := range svc.Spec.Ports {
		found = found || (p.Name == "metrics" && p.TargetPort.String() == "metrics")
	}
	if !found {
		t.Error("service.yaml: no metrics port for a ServiceMonitor")
	}
	dur := func(name string) time.Duration {
		e, ok := envValue(c, name)
		if !ok {
			t.Errorf("deployment.yaml: %s not set", name)
			return 0
		}
		d, err := time.ParseDuration(e.Value)
		if err != nil {
			t.Errorf("deployment.yaml: %s %q: %v", name, e.Value, err)
		}
		return d
	}
	drain, shutdown := dur("QUANTPREP_DRAIN_DELAY"), dur("QUANTPREP_SHUTDOWN_TIMEOUT")
	if drain <= 0 {
		t.Error("deployment.yaml: no drain delay: requests still routed to a stopping pod would fail")
	}
	grace := dep.Spec.Template.Spec.TerminationGracePeriodSeconds
	if grace == nil || time.Duration(*grace)*time.Second <= drain+shutdown {
		t.Errorf("deployment.yaml: terminationGracePeriodSeconds %v does not cover the drain (%v) and the shutdown (%v)", grace, drain, shutdown)
	}
}

func TestHPA(t *testing.T) {
	m := manifests(t)
	dep := only[*appsv1.Deployment](t, m["deployment.yaml"])
	hpa := only[*autoscalingv2.HorizontalPodAutoscaler](t, m["hpa.yaml"])
	ref := hpa.Spec.ScaleTargetRef
	if ref.Kind != "Deployment" || ref.APIVersion != "apps/v1" || ref.Name != dep.Name {
		t.Errorf("hpa.yaml scales %+v, want the Deployment %s", ref, dep.Name)
	}
	if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas < 2 || hpa.Spec.MaxReplicas < *hpa.Spec.MinReplicas {
		t.Errorf("hpa.yaml: replicas %v..%d, want at least 2 (the PDB keeps one)", hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas)
	}
	if len(hpa.Spec.Metrics) == 0 {
		t.Error("hpa.yaml: no metric")
	}
	for _, ms := range hpa.Spec.Metrics {
		if ms.Type == autoscalingv2.ResourceMetricSourceType && ms.Resource.Name == corev1.ResourceCPU {
			if _, ok := dep.Spec.Template.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU]; !ok {
				t.Error("hpa.yaml scales on CPU utilization, but the container requests no CPU")
			}
		}
	}
}
