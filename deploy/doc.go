// Package deploy holds quantprep's Kubernetes manifests (the shared service and
// a sidecar example, applied with kubectl, not built into anything) and the
// tests that decode them strictly against the Kubernetes API types and check
// their probes, resources and security settings.
package deploy
