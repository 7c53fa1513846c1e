#!/usr/bin/env bash
# Runs every check of the project, in the order CI runs them:
#   gofmt, go vet (with and without the ortoracle tag), buf lint and a check that
#   the generated API code (Go and Python) matches the .proto files, go test ./...,
#   the Python client's tests, and the end-to-end oracle tests (cgo, ONNX
#   Runtime, python3-onnx).
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
# Every step runs even after one fails, so that one run shows every failure;
# the script exits non-zero if any failed.
failed=()
check() {
  local name=$1
  shift
  if ! "$@"; then
    failed+=("$name")
  fi
}
missing() {
  if [[ ${QUANTPREP_REQUIRE_ORACLES:-} == 1 ]]; then
    echo "test.sh: $2 (QUANTPREP_REQUIRE_ORACLES=1)" >&2
    failed+=("$1")
    return
  fi
  echo "test.sh: skipped: $2"
}

step gofmt
unformatted=$(gofmt -l .)
if [[ -n $unformatted ]]; then
  echo "not gofmt-ed:" >&2
  echo "$unformatted" >&2
  failed+=(gofmt)
fi

# The oracle tests use ONNX Runtime through cgo, so they need a C compiler.
cc=$(go env CC)
have_cc=0
command -v "${cc%% *}" >/dev/null && have_cc=1

# api/ and client/ are modules of their own (./... stops at their go.mod).
modules=(. api client)
in_module() { (cd "$1" && shift && "$@"); }

step go vet
check "go vet" go vet ./...
for m in "${modules[@]:1}"; do
  check "go vet ($m)" in_module "$m" go vet ./...
done
if ((have_cc)); then
  check "go vet (ortoracle)" env CGO_ENABLED=1 go vet -tags ortoracle ./e2e/...
fi

generated_code() {
  local gen stale=0
  gen=$(mktemp -d)
  buf generate -o "$gen" || { rm -rf "$gen"; return 1; }
  while IFS= read -r f; do
    rel=${f#"$gen"/}
    if ! cmp -s "$f" "$rel"; then
      echo "generated code differs from the .proto: $rel (run buf generate)" >&2
      stale=1
    fi
  done < <(find "$gen" -type f \( -name '*.go' -o -name '*.py' \))
  rm -rf "$gen"
  ((stale == 0)) && echo "generated code matches the .proto files"
}

# buf breaking compares the API with main's: a field renumbered or removed on a
# branch fails here. In a clone without a main branch there is nothing to compare.
buf_breaking() {
  if ! git rev-parse --verify -q main >/dev/null; then
    echo "test.sh: no main branch in this clone: buf breaking not run"
    return 0
  fi
  buf breaking --against '.git#branch=main' && echo "no breaking change against main"
}

step buf
if command -v buf >/dev/null; then
  check "buf lint" buf lint
  check "buf breaking" buf_breaking
  # The Python code comes from protoc's builtin generator and grpc_python_plugin
  # (Debian's protobuf-compiler 3.21, protobuf-compiler-grpc 1.51).
  if command -v protoc-gen-go >/dev/null && command -v protoc-gen-go-grpc >/dev/null &&
    command -v protoc >/dev/null && command -v grpc_python_plugin >/dev/null; then
    check "generated code" generated_code
  else
    missing "protoc plugins" "protoc-gen-go, protoc-gen-go-grpc, protoc or grpc_python_plugin is not on PATH: generated code not checked"
  fi
else
  missing "buf" "buf is not installed (npm install -g @bufbuild/buf): buf lint not run"
fi

step go test
check "go test" go test ./...
for m in "${modules[@]:1}"; do
  check "go test ($m)" in_module "$m" go test ./...
done

step image build
check "image build" scripts/image-build.sh

step python client
# The Python client (client/python) against a quantprep binary built by its tests.
py=${QUANTPREP_PYTHON:-/usr/bin/python3}
[[ -x $py ]] || py=python3
if "$py" -c 'import grpc, google.protobuf' 2>/dev/null; then
  check "python client" env PYTHONPATH=client/python "$py" -m unittest discover -s client/python/tests -t client/python/tests
else
  missing "python client" "$py lacks grpcio or protobuf (apt install python3-grpcio python3-protobuf): the Python client's tests did not run"
fi

step fuzz
# go test ./... runs each fuzz target's seed corpus (testdata/fuzz); here each
# also explores for a short while (QUANTPREP_FUZZTIME, default 10s).
# Go 1.26's fuzz coordinator can fail a target with a bare "context deadline
# exceeded" when -fuzztime ends while a worker is mid-input (golang/go#75804,
# fixed in Go 1.27): no input failed and none is written. A run counts as failed
# when go test fails any other way, or when it writes a failing input under
# testdata/fuzz/TARGET (that file is the reproducer to commit or fix).
fuzz_run() {
  local pkg=$1 target=$2 dir out rc=0 before after
  dir=$pkg/testdata/fuzz/$target
  before=$(ls "$dir" 2>/dev/null | sort)
  out=$(go test "$pkg" -run '^$' -fuzz "^$target\$" -fuzztime "${QUANTPREP_FUZZTIME:-10s}" 2>&1) || rc=$?
  echo "$out"
  ((rc == 0)) && return 0
  after=$(ls "$dir" 2>/dev/null | sort)
  if [[ $before == "$after" ]] && grep -q "^--- FAIL: $target " <<<"$out" &&
    grep -A1 "^--- FAIL: $target " <<<"$out" | tail -1 | grep -qx '    context deadline exceeded'; then
    echo "test.sh: $target: the fuzz time ran out inside Go's coordinator (golang/go#75804), no failing input: not a failure"
    return 0
  fi
  return "$rc"
}
fuzz() { check "fuzz $2" fuzz_run "$1" "$2"; }
fuzz ./server FuzzPreprocess
fuzz ./pipeline/ FuzzPipeline
fuzz ./pipeline/eval/ FuzzKernels
fuzz ./pipeline/model/ FuzzLoad
fuzz ./pipeline/model/ FuzzValidate

step oracle tests
if ((have_cc)); then
  check "oracle tests" env CGO_ENABLED=1 go test -tags ortoracle -timeout 20m ./e2e/...
else
  missing "C compiler" "no C compiler ($cc) for cgo: the oracle tests in e2e/ did not run"
fi

if ((${#failed[@]})); then
  printf '\ntest.sh: failed: %s\n' "$(IFS=,; echo "${failed[*]}")" >&2
  exit 1
fi
