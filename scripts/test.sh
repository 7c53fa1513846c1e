#!/usr/bin/env bash
# Runs every check of the project, in the order CI runs them:
#   gofmt, go vet (with and without the ortoracle tag), buf lint and a check that
#   the generated API code matches the .proto files, go test ./..., and the
#   end-to-end oracle tests (cgo, ONNX Runtime, python3-onnx).
#
#   scripts/test.sh
#
# Tests that need an oracle (Debian's python3-onnx, ONNX Runtime's library, buf
# and the protoc plugins) skip with a message when it is absent, unless
# QUANTPREP_REQUIRE_ORACLES=1, as in CI (.ci/run installs them all), where an
# absent oracle fails. ONNXRUNTIME_LIB names libonnxruntime.so.1.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }
missing() {
  if [[ ${QUANTPREP_REQUIRE_ORACLES:-} == 1 ]]; then
    echo "test.sh: $* (QUANTPREP_REQUIRE_ORACLES=1)" >&2
    exit 1
  fi
  echo "test.sh: skipped: $*"
}

step gofmt
unformatted=$(gofmt -l .)
if [[ -n $unformatted ]]; then
  echo "not gofmt-ed:" >&2
  echo "$unformatted" >&2
  exit 1
fi

step go vet
go vet ./...
CGO_ENABLED=1 go vet -tags ortoracle ./e2e/...

step buf
if command -v buf >/dev/null; then
  buf lint
  if command -v protoc-gen-go >/dev/null && command -v protoc-gen-go-grpc >/dev/null; then
    gen=$(mktemp -d)
    trap 'rm -rf "$gen"' EXIT
    buf generate -o "$gen"
    stale=0
    while IFS= read -r f; do
      rel=${f#"$gen"/}
      if ! cmp -s "$f" "$rel"; then
        echo "generated code differs from the .proto: $rel (run buf generate)" >&2
        stale=1
      fi
    done < <(find "$gen" -type f -name '*.go')
    ((stale == 0)) || exit 1
    echo "generated code matches the .proto files"
  else
    missing "protoc-gen-go and protoc-gen-go-grpc are not on PATH: generated code not checked"
  fi
else
  missing "buf is not installed (npm install -g @bufbuild/buf): buf lint not run"
fi

step go test
go test ./...

step oracle tests
CGO_ENABLED=1 go test -tags ortoracle -timeout 20m ./e2e/...
