package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/dustin/go-humanize"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Constants the manifests must agree with: the server's port, the health
// service name its readiness probe asks for, the env vars that configure it.
const (
	grpcPort      = 50051
	serviceName   = "quantprep.v1.PreprocessService"
	tempDirEnv    = "QUANTPREP_TEMP_DIR"
	sharedDirEnv  = "QUANTPREP_SHARED_DIR"
	image         = "quantprep"
	kustomization = "kustomization.yaml"
)

// requiredEnv are the server's limits every quantprep container sets explicitly.
var requiredEnv = []string{"QUANTPREP_LISTEN", "QUANTPREP_WORKERS", "QUANTPREP_QUEUE_SIZE", "QUANTPREP_MAX_UPLOAD_BYTES", tempDirEnv}

// decode reads every YAML document of data strictly (duplicate keys, unknown
// fields and wrong types are errors) into the API type its kind names.
func decode(data []byte) ([]any, error) {
	var objs []any
	for i, doc := range splitDocuments(data) {
		j, err := yaml.YAMLToJSONStrict(doc)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		if string(j) == "null" {
			continue // only comments
		}
		var meta struct{ APIVersion, Kind string }
		if err := json.Unmarshal(j, &meta); err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		var obj any
		switch meta.APIVersion + " " + meta.Kind {
		case "apps/v1 Deployment":
			obj = &appsv1.Deployment{}
		case "v1 Service":
			obj = &corev1.Service{}
		case "policy/v1 PodDisruptionBudget":
			obj = &policyv1.PodDisruptionBudget{}
		case "networking.k8s.io/v1 NetworkPolicy":
			obj = &networkingv1.NetworkPolicy{}
		case "autoscaling/v2 HorizontalPodAutoscaler":
			obj = &autoscalingv2.HorizontalPodAutoscaler{}
		default:
			return nil, fmt.Errorf("document %d: kind %q of %q not handled by the test", i+1, meta.Kind, meta.APIVersion)
		}
		if err := strictJSON(j, obj); err != nil {
			return nil, fmt.Errorf("document %d (%s): %w", i+1, meta.Kind, err)
		}
		objs = append(objs, obj)
	}
	return objs, nil
}

// strictJSON decodes j into v, failing on unknown fields and trailing data.
// encoding/json matches field names regardless of case, and the API server
// does not (a "containerport" would be dropped or refused), so the decoding is
// repeated with the API machinery's case-sensitive strict decoder.
func strictJSON(j []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("data after the object")
	}
	strict, err := kjson.UnmarshalStrict(j, v, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

// splitDocuments splits a YAML stream at its "---" lines.
func splitDocuments(data []byte) [][]byte {
	var docs [][]byte
	var cur []byte
	for _, line := range bytes.SplitAfter(data, []byte("\n")) {
		if strings.TrimRight(string(line), " \r\n") == "---" {
			docs = append(docs, cur)
			cur = nil
			continue
		}
		cur = append(cur, line...)
	}
	return append(docs, cur)
}

// manifests are the YAML files of this directory but the kustomization.
func manifests(t *testing.T) map[string][]any {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]any{}
	for _, f := range files {
		if f == kustomization {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := decode(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[f] = objs
	}
	for _, want := range []string{"deployment.yaml", "service.yaml", "sidecar-example.yaml"} {
		if len(out[want]) == 0 {
			t.Fatalf("%s is missing or empty", want)
		}
	}
	return out
}

// isQuantprep reports whether the container runs quantprep's image.
func isQuantprep(c corev1.Container) bool {
	name := c.Image[strings.LastIndex(c.Image, "/")+1:]
	name, _, _ = strings.Cut(name, ":")
	name, _, _ = strings.Cut(name, "@")
	return name == image
}

func envValue(c corev1.Container, name string) (corev1.EnvVar, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e, true
		}
	}
	return corev1.EnvVar{}, false
}

// checkPod lists what a pod spec lacks: non-root, seccomp RuntimeDefault, and
// for every container resource requests and limits and a locked-down security
// context; for quantprep's containers also the gRPC port, native gRPC probes,
// the server's limits and a writable temp dir.
func checkPod(spec corev1.PodSpec) []string {
	var out []string
	bad := func(format string, a ...any) { out = append(out, fmt.Sprintf(format, a...)) }
	psc := spec.SecurityContext
	podNonRoot := psc != nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot
	podSeccomp := psc != nil && psc.SeccompProfile != nil && psc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault
	if !podNonRoot {
		bad("pod: securityContext.runAsNonRoot is not true")
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = v
	}
	type entry struct {
		c    corev1.Container
		init bool
	}
	var all []entry
	for _, c := range spec.InitContainers {
		all = append(all, entry{c, true})
	}
	for _, c := range spec.Containers {
		all = append(all, entry{c, false})
	}
	quantpreps := 0
	for _, e := range all {
		c := e.c
		where := "container " + c.Name
		for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if _, ok := c.Resources.Requests[res]; !ok {
				bad("%s: no %s request", where, res)
			}
			if _, ok := c.Resources.Limits[res]; !ok {
				bad("%s: no %s limit", where, res)
			}
		}
		sc := c.SecurityContext
		switch {
		case sc == nil:
			bad("%s: no securityContext", where)
		default:
			if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				bad("%s: allowPrivilegeEscalation is not false", where)
			}
			if sc.Privileged != nil && *sc.Privileged {
				bad("%s: privileged", where)
			}
			if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				bad("%s: readOnlyRootFilesystem is not true", where)
			}
			if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
				bad("%s: capabilities do not drop ALL", where)
			} else if len(sc.Capabilities.Add) > 0 {
				bad("%s: adds capabilities %v", where, sc.Capabilities.Add)
			}
			if !podNonRoot && (sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot) {
				bad("%s: runAsNonRoot is not true", where)
			}
			if sc.RunAsNonRoot != nil && !*sc.RunAsNonRoot {
				bad("%s: runAsNonRoot is false", where)
			}
			if sc.SeccompProfile != nil && sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
				bad("%s: seccomp profile %s, want RuntimeDefault", where, sc.SeccompProfile.Type)
			}
			if !podSeccomp && (sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault) {
				bad("%s: no RuntimeDefault seccomp profile", where)
			}
		}
		if e.init && (c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways) && isQuantprep(c) {
			bad("%s: an init container without restartPolicy Always blocks the pod; a sidecar needs it", where)
		}
		if isQuantprep(c) {
			quantpreps++
			out = append(out, checkQuantprep(c, volumes)...)
		}
	}
	if quantpreps == 0 {
		bad("pod: no container runs the %s image", image)
	}
	return out
}

// checkQuantprep lists what a quantprep container lacks.
func checkQuantprep(c corev1.Container, volumes map[string]corev1.Volume) []string {
	var out []string
	where := "container " + c.Name
	bad := func(format string, a ...any) { out = append(out, where+": "+fmt.Sprintf(format, a...)) }
	if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool {
		return p.Name == "grpc" && p.ContainerPort == grpcPort
	}) {
		bad("no port named grpc on %d", grpcPort)
	}
	probe := func(kind string, p *corev1.Probe, service string) {
		switch {
		case p == nil:
			bad("no %s probe", kind)
		case p.GRPC == nil:
			bad("%s probe is not a native gRPC probe", kind)
		case p.GRPC.Port != grpcPort:
			bad("%s probe on port %d, want %d", kind, p.GRPC.Port, grpcPort)
		case (p.GRPC.Service == nil && service != "") || (p.GRPC.Service != nil && *p.GRPC.Service != service):
			got := ""
			if p.GRPC.Service != nil {
				got = *p.GRPC.Service
			}
			bad("%s probe asks for health service %q, want %q", kind, got, service)
		}
	}
	probe("liveness", c.LivenessProbe, "")
	probe("readiness", c.ReadinessProbe, serviceName)
	if _, ok := c.Resources.Limits[corev1.ResourceEphemeralStorage]; !ok {
		bad("no ephemeral-storage limit (uploads are spooled to disk)")
	}
	for _, name := range requiredEnv {
		e, ok := envValue(c, name)
		if !ok {
			bad("env %s not set", name)
			continue
		}
		if e.Value == "" && e.ValueFrom == nil {
			bad("env %s is empty", name)
		}
	}
	if e, ok := envValue(c, "QUANTPREP_LISTEN"); ok {
		if _, port, err := net.SplitHostPort(e.Value); err != nil || port != strconv.Itoa(grpcPort) {
			bad("QUANTPREP_LISTEN %q does not listen on port %d", e.Value, grpcPort)
		}
	}
	if e, ok := envValue(c, "QUANTPREP_MAX_UPLOAD_BYTES"); ok {
		// The server's own parser: Kubernetes quantities and SI/IEC sizes.
		if n, err := humanize.ParseBytes(e.Value); err != nil || n == 0 {
			bad("QUANTPREP_MAX_UPLOAD_BYTES %q is not a positive size", e.Value)
		}
	}
	if e, ok := envValue(c, "QUANTPREP_METRICS_LISTEN"); ok {
		_, port, err := net.SplitHostPort(e.Value)
		if err != nil || !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool {
			return p.Name == "metrics" && strconv.Itoa(int(p.ContainerPort)) == port
		}) {
			bad("QUANTPREP_METRICS_LISTEN %q is not on a port named metrics", e.Value)
		}
	}
	for _, env := range []string{tempDirEnv, sharedDirEnv} {
		if e, ok := envValue(c, env); ok {
			m, ok := mountOf(c, e.Value)
			if v, isVol := volumes[m.Name]; !ok || m.ReadOnly || !isVol || v.EmptyDir == nil {
				bad("%s %s is not in a writable emptyDir mount (the root filesystem is read-only)", env, e.Value)
			}
		}
	}
	return out
}

// checkService lists what the Service lacks: the grpc port and a selector that
// picks the pods of the deployment.
func checkService(svc *corev1.Service, dep *appsv1.Deployment) []string {
	var out []string
	if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool {
		return p.Name == "grpc" && p.Port == grpcPort && (p.TargetPort.String() == "grpc" || p.TargetPort.IntValue() == grpcPort)
	}) {
		out = append(out, fmt.Sprintf("service %s: no port named grpc on %d", svc.Name, grpcPort))
	}
	if len(svc.Spec.Selector) == 0 {
		out = append(out, fmt.Sprintf("service %s: no selector", svc.Name))
	}
	for k, v := range svc.Spec.Selector {
		if dep.Spec.Template.Labels[k] != v {
			out = append(out, fmt.Sprintf("service %s: selector %s=%s does not match deployment %s's pods", svc.Name, k, v, dep.Name))
		}
	}
	return out
}

func only[T any](t *testing.T, objs []any) T {
	t.Helper()
	var found []T
	for _, o := range objs {
		if v, ok := o.(T); ok {
			found = append(found, v)
		}
	}
	if len(found) != 1 {
		var zero T
		t.Fatalf("want one %T, found %d", zero, len(found))
	}
	return found[0]
}

func TestSharedService(t *testing.T) {
	m := manifests(t)
	dep := only[*appsv1.Deployment](t, m["deployment.yaml"])
	svc := only[*corev1.Service](t, m["service.yaml"])
	for _, p := range checkPod(dep.Spec.Template.Spec) {
		t.Errorf("deployment.yaml: %s", p)
	}
	for _, p := range checkService(svc, dep) {
		t.Errorf("service.yaml: %s", p)
	}
	sel := dep.Spec.Selector.MatchLabels
	for k, v := range sel {
		if dep.Spec.Template.Labels[k] != v {
			t.Errorf("deployment.yaml: selector %s=%s does not match its own pods", k, v)
		}
	}
	if pdb := m["pdb.yaml"]; len(pdb) > 0 {
		b := only[*policyv1.PodDisruptionBudget](t, pdb)
		for k, v := range b.Spec.Selector.MatchLabels {
			if dep.Spec.Template.Labels[k] != v {
				t.Errorf("pdb.yaml: selector %s=%s does not match the deployment's pods", k, v)
			}
		}
	}
}

// mountOf returns the mount of container c that holds path: the one with the
// longest mount path that is path or a parent of it.
func mountOf(c corev1.Container, path string) (corev1.VolumeMount, bool) {
	var best corev1.VolumeMount
	found := false
	path = filepath.Clean(path)
	for _, m := range c.VolumeMounts {
		mp := filepath.Clean(m.MountPath)
		if (path == mp || strings.HasPrefix(path, mp+"/")) && (!found || len(mp) > len(best.MountPath)) {
			best, found = m, true
			best.MountPath = mp
		}
	}
	return best, found
}

// volumePath is where path of container c lies in its volume: the volume's
// name and the path inside it ("" for its root).
func volumePath(c corev1.Container, path string) (string, string, bool) {
	m, ok := mountOf(c, path)
	if !ok {
		return "", "", false
	}
	rel, _ := filepath.Rel(m.MountPath, filepath.Clean(path))
	return m.Name, filepath.Clean(filepath.Join(m.SubPath, rel)), true
}

func TestSidecarExample(t *testing.T) {
	m := manifests(t)
	dep := only[*appsv1.Deployment](t, m["sidecar-example.yaml"])
	spec := dep.Spec.Template.Spec
	for _, p := range checkPod(spec) {
		t.Errorf("sidecar-example.yaml: %s", p)
	}
	var apps []corev1.Container
	for _, c := range spec.Containers {
		if !isQuantprep(c) {
			apps = append(apps, c)
		}
	}
	if len(apps) == 0 {
		t.Fatal("sidecar-example.yaml: no application container beside quantprep")
	}
	for _, c := range apps {
		// QUANTPREP_SERVER is what `quantprep preprocess` and the examples read.
		e, ok := envValue(c, "QUANTPREP_SERVER")
		host, port, err := net.SplitHostPort(e.Value)
		if !ok || err != nil || (host != "localhost" && host != "127.0.0.1") || port != strconv.Itoa(grpcPort) {
			t.Errorf("sidecar-example.yaml: container %s: QUANTPREP_SERVER %q, want localhost:%d", c.Name, e.Value, grpcPort)
		}
	}
	// The shared directory is the same place of the same volume in quantprep
	// and in every application container, and quantprep's spool is on the
	// same mount as it there: a hard link cannot cross mounts, so otherwise
	// the server copies the model into its spool and its output back.
	var qp corev1.Container
	for _, c := range append(spec.InitContainers, spec.Containers...) {
		if isQuantprep(c) {
			qp = c
		}
	}
	shared, ok := envValue(qp, sharedDirEnv)
	if !ok {
		t.Fatalf("sidecar-example.yaml: quantprep has no %s", sharedDirEnv)
	}
	vol, where, ok := volumePath(qp, shared.Value)
	if !ok {
		t.Fatalf("sidecar-example.yaml: quantprep's %s %s is on no volume", sharedDirEnv, shared.Value)
	}
	temp, _ := envValue(qp, tempDirEnv)
	sm, _ := mountOf(qp, shared.Value)
	if tm, ok := mountOf(qp, temp.Value); !ok || tm.MountPath != sm.MountPath {
		t.Errorf("sidecar-example.yaml: quantprep's %s %q is not on the mount of its %s %s (%s): links cannot cross mounts",
			tempDirEnv, temp.Value, sharedDirEnv, shared.Value, sm.MountPath)
	}
	for _, c := range apps {
		e, ok := envValue(c, sharedDirEnv)
		if !ok {
			t.Errorf("sidecar-example.yaml: container %s: no %s", c.Name, sharedDirEnv)
			continue
		}
		if v, w, ok := volumePath(c, e.Value); !ok || v != vol || w != where {
			t.Errorf("sidecar-example.yaml: container %s: %s %s is %s:%s, quantprep's is %s:%s", c.Name, sharedDirEnv, e.Value, v, w, vol, where)
		}
	}
	np := only[*networkingv1.NetworkPolicy](t, m["sidecar-example.yaml"])
	for k, v := range np.Spec.PodSelector.MatchLabels {
		if dep.Spec.Template.Labels[k] != v {
			t.Errorf("sidecar-example.yaml: network policy selector %s=%s does not match the pods", k, v)
		}
	}
	for _, rule := range np.Spec.Ingress {
		if len(rule.Ports) == 0 {
			t.Error("sidecar-example.yaml: an ingress rule admits every port, quantprep's too")
		}
		for _, p := range rule.Ports {
			if p.Port == nil || p.Port.IntValue() == grpcPort || p.Port.String() == "grpc" {
				t.Errorf("sidecar-example.yaml: ingress admits quantprep's port (%v)", p.Port)
			}
		}
	}
}

// kustomizationFile is the part of kustomize's Kustomization this directory
// uses; strict decoding into it catches a misspelt field.
type kustomizationFile struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Resources  []string `json:"resources"`
	Labels     []struct {
		Pairs            map[string]string `json:"pairs"`
		IncludeSelectors bool              `json:"includeSelectors,omitempty"`
	} `json:"labels,omitempty"`
	Images []struct {
		Name    string `json:"name"`
		NewName string `json:"newName,omitempty"`
		NewTag  string `json:"newTag,omitempty"`
	} `json:"images,omitempty"`
}

func TestKustomization(t *testing.T) {
	data, err := os.ReadFile(kustomization)
	if err != nil {
		t.Fatal(err)
	}
	j, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		t.Fatal(err)
	}
	var k kustomizationFile
	if err := strictJSON(j, &k); err != nil {
		t.Fatalf("%s: %v", kustomization, err)
	}
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		t.Errorf("%s: apiVersion %q kind %q", kustomization, k.APIVersion, k.Kind)
	}
	for _, r := range k.Resources {
		if _, err := os.Stat(r); err != nil {
			t.Errorf("%s: resource %s: %v", kustomization, r, err)
		}
	}
	for _, want := range []string{"deployment.yaml", "service.yaml"} {
		if !slices.Contains(k.Resources, want) {
			t.Errorf("%s does not list %s", kustomization, want)
		}
	}
	if slices.Contains(k.Resources, "sidecar-example.yaml") {
		t.Errorf("%s lists the sidecar example, which belongs in an application's own manifests", kustomization)
	}
	if len(k.Images) != 1 || k.Images[0].Name != image {
		t.Errorf("%s: images %+v, want one entry for %s", kustomization, k.Images, image)
	}
}

// TestDecodeIsStrict makes sure a typo in a manifest fails the decoding.
func TestDecodeIsStrict(t *testing.T) {
	data, err := os.ReadFile("deployment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decode(data); err != nil {
		t.Fatalf("deployment.yaml: %v", err)
	}
	tests := []struct{ name, old, new string }{
		{"misspelt field", "readinessProbe:", "readinesProbe:"},
		{"wrong case", "containerPort:", "containerport:"},
		{"field at the wrong level", "      automountServiceAccountToken: false\n", "      automountServiceAccountToken: false\n      runAsNonRoot: true\n"},
		{"wrong type", "replicas: 2", "replicas: two"},
		{"bad quantity", "memory: 4Gi", "memory: 4 GB"},
		{"duplicate key", "  replicas: 2\n", "  replicas: 2\n  replicas: 3\n"},
		{"unknown kind", "kind: Deployment", "kind: Deploymnet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := strings.Replace(string(data), tt.old, tt.new, 1)
			if bad == string(data) {
				t.Fatalf("%q not found in deployment.yaml", tt.old)
			}
			if _, err := decode([]byte(bad)); err == nil {
				t.Error("decoded without an error")
			} else {
				t.Log(err)
			}
		})
	}
}

// TestChecksFindGaps makes sure the checks fail on a pod that lacks each setting.
func TestChecksFindGaps(t *testing.T) {
	m := manifests(t)
	orig := only[*appsv1.Deployment](t, m["deployment.yaml"])
	tests := []struct {
		name string
		edit func(*corev1.PodSpec)
		want string
	}{
		{"no readiness probe", func(s *corev1.PodSpec) { s.Containers[0].ReadinessProbe = nil }, "container quantprep: no readiness probe"},
		{"http liveness probe", func(s *corev1.PodSpec) {
			s.Containers[0].LivenessProbe.GRPC = nil
			s.Containers[0].LivenessProbe.HTTPGet = &corev1.HTTPGetAction{Path: "/healthz"}
		}, "container quantprep: liveness probe is not a native gRPC probe"},
		{"readiness on the wrong service", func(s *corev1.PodSpec) { s.Containers[0].ReadinessProbe.GRPC.Service = nil },
			`container quantprep: readiness probe asks for health service "", want "quantprep.v1.PreprocessService"`},
		{"no memory limit", func(s *corev1.PodSpec) { delete(s.Containers[0].Resources.Limits, corev1.ResourceMemory) }, "container quantprep: no memory limit"},
		{"no cpu request", func(s *corev1.PodSpec) { delete(s.Containers[0].Resources.Requests, corev1.ResourceCPU) }, "container quantprep: no cpu request"},
		{"writable root", func(s *corev1.PodSpec) { s.Containers[0].SecurityContext.ReadOnlyRootFilesystem = nil }, "container quantprep: readOnlyRootFilesystem is not true"},
		{"capabilities kept", func(s *corev1.PodSpec) {
			s.Containers[0].SecurityContext.Capabilities.Drop = []corev1.Capability{"NET_RAW"}
		}, "container quantprep: capabilities do not drop ALL"},
		{"root allowed", func(s *corev1.PodSpec) {
			s.SecurityContext.RunAsNonRoot = nil
			s.Containers[0].SecurityContext.RunAsNonRoot = nil
		}, "container quantprep: runAsNonRoot is not true"},
		{"no seccomp", func(s *corev1.PodSpec) {
			s.SecurityContext.SeccompProfile = nil
			s.Containers[0].SecurityContext.SeccompProfile = nil
		}, "container quantprep: no RuntimeDefault seccomp profile"},
		{"unconfined seccomp", func(s *corev1.PodSpec) {
			s.Containers[0].SecurityContext.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}
		}, "container quantprep: seccomp profile Unconfined, want RuntimeDefault"},
		{"no temp dir mount", func(s *corev1.PodSpec) { s.Containers[0].VolumeMounts = nil },
			"container quantprep: QUANTPREP_TEMP_DIR /tmp is not in a writable emptyDir mount (the root filesystem is read-only)"},
		{"no worker limit", func(s *corev1.PodSpec) {
			s.Containers[0].Env = slices.DeleteFunc(s.Containers[0].Env, func(e corev1.EnvVar) bool { return e.Name == "QUANTPREP_WORKERS" })
		}, "container quantprep: env QUANTPREP_WORKERS not set"},
		{"upload limit with a unit", func(s *corev1.PodSpec) {
			for i, e := range s.Containers[0].Env {
				if e.Name == "QUANTPREP_MAX_UPLOAD_BYTES" {
					s.Containers[0].Env[i].Value = "1 lots"
				}
			}
		}, `container quantprep: QUANTPREP_MAX_UPLOAD_BYTES "1 lots" is not a positive size`},
		{"no grpc port", func(s *corev1.PodSpec) { s.Containers[0].Ports[0].Name = "http" }, "container quantprep: no port named grpc on 50051"},
		{"no quantprep", func(s *corev1.PodSpec) { s.Containers[0].Image = "nginx" }, "pod: no container runs the quantprep image"},
		{"sidecar that blocks", func(s *corev1.PodSpec) {
			s.InitContainers = append(s.InitContainers, *s.Containers[0].DeepCopy())
		}, "container quantprep: an init container without restartPolicy Always blocks the pod; a sidecar needs it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := orig.DeepCopy()
			tt.edit(&d.Spec.Template.Spec)
			got := checkPod(d.Spec.Template.Spec)
			if !slices.Contains(got, tt.want) {
				t.Errorf("problems %q lack %q", got, tt.want)
			}
		})
	}
	svc := only[*corev1.Service](t, m["service.yaml"]).DeepCopy()
	svc.Spec.Selector["app.kubernetes.io/component"] = "worker"
	if got := checkService(svc, orig); len(got) == 0 {
		t.Error("a service whose selector misses the pods passes")
	}
	svc = only[*corev1.Service](t, m["service.yaml"]).DeepCopy()
	svc.Spec.Ports[0].Port = 8080
	if got := checkService(svc, orig); len(got) == 0 {
		t.Error("a service without port 50051 passes")
	}
}
