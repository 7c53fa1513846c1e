#!/usr/bin/env bash
# Builds the product binary, static and cgo-free, exactly as it ships: the
# Dockerfile runs this script, and so does internal/archtest's static-binary test.
#
#   scripts/build.sh [OUTPUT]        (default: bin/quantprep)
#
# GOOS/GOARCH from the environment cross-compile as usual. VERSION and
# REVISION, if set, are stamped into the binary (`quantprep version`, the
# startup log, every Summary, ServerInfo); otherwise they come from git when
# the tree is a checkout (`git describe --tags --always --dirty`), else the
# binary falls back to what the Go toolchain recorded (debug.ReadBuildInfo).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bin/quantprep}
mkdir -p "$(dirname "$out")"
version=${VERSION:-}
revision=${REVISION:-}
if [[ -z $version ]] && git rev-parse --git-dir >/dev/null 2>&1; then
  version=$(git describe --tags --always --dirty 2>/dev/null || true)
fi
if [[ -z $revision ]] && git rev-parse --git-dir >/dev/null 2>&1; then
  revision=$(git rev-parse HEAD 2>/dev/null || true)
fi
pkg=github.com/quantprep/quantprep/internal/buildinfo
ldflags="-s -w"
[[ -n $version ]] && ldflags+=" -X $pkg.version=$version"
[[ -n $revision ]] && ldflags+=" -X $pkg.revision=$revision"
CGO_ENABLED=0 go build -trimpath -ldflags="$ldflags" -o "$out" ./cmd/quantprep
# A dependency that needs cgo would fail the build above; this catches a
# toolchain setting that overrides it.
if ! go version -m "$out" | grep -q 'CGO_ENABLED=0'; then
  echo "build.sh: $out was not built with CGO_ENABLED=0" >&2
  exit 1
fi
echo "built $out${version:+ ($version)}"
