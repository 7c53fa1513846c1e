// Package bench holds quantprep's benchmarks of the whole pipeline: a Go
// benchmark over the small models committed under testdata/models
// (`go test -bench . ./bench/`), and run.sh, which measures the product
// binary's wall time and peak memory on large generated models. The package
// has no API; README.md says how to reproduce the figures.
package bench
