#!/usr/bin/env bash
# Builds the product binary, static and cgo-free, exactly as it ships: the
# Dockerfile runs this script, and so does internal/archtest's static-binary test.
#
#   scripts/build.sh [OUTPUT]        (default: bin/quantprep)
#
# GOOS/GOARCH from the environment cross-compile as usual.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bin/quantprep}
mkdir -p "$(dirname "$out")"
CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$out" ./cmd/quantprep
# A dependency that needs cgo would fail the build above; this catches a
# toolchain setting that overrides it.
if ! go version -m "$out" | grep -q 'CGO_ENABLED=0'; then
  echo "build.sh: $out was not built with CGO_ENABLED=0" >&2
  exit 1
fi
echo "built $out"
