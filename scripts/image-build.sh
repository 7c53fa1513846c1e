#!/usr/bin/env bash
# Replays the Dockerfile's build stage without a Docker engine, as CI must:
# the build context as .dockerignore leaves it, then each ARG, WORKDIR, COPY
# and RUN of the first stage in order, under a scratch root, then checks that
# the file the runtime stage copies exists and runs. A COPY that misses a file
# the build needs (say, a nested module's go.mod before `go mod download`)
# fails here as it would in `docker build`.
#
#   scripts/image-build.sh            (VERSION, REVISION: build args, as --build-arg)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
fs=$work/fs
ctx=$work/context
mkdir -p "$fs" "$ctx"

# The build context: the tree (tracked and untracked files git does not
# ignore) less what .dockerignore excludes.
mapfile -t ignore < <(grep -v '^\s*\(#\|$\)' "$root/.dockerignore" || true)
ignored() {
  local p=$1 pat
  for pat in "${ignore[@]}"; do
    pat=${pat%/}
    # shellcheck disable=SC2053 # glob matching is the point
    if [[ $p == $pat || $p == $pat/* || ( $pat == '**/'* && ( $p == ${pat#'**/'} || $p == ${pat#'**/'}/* ) ) ]]; then
      return 0
    fi
  done
  return 1
}
( cd "$root" && git ls-files --cached --others --exclude-standard ) | while IFS= read -r f; do
  [[ -e $root/$f ]] || continue
  ignored "$f" && continue
  mkdir -p "$ctx/$(dirname "$f")"
  cp -p "$root/$f" "$ctx/$f"
done

# Absolute paths of the Dockerfile live under $fs.
abs() { if [[ $1 == /* ]]; then echo "$fs$1"; else echo "$1"; fi; }

declare -A args=()
dir=$fs
stage=0
final_copy=""
while IFS= read -r line; do
  read -r cmd rest <<<"$line"
  cmd=${cmd^^}
  if [[ $cmd == FROM ]]; then
    stage=$((stage + 1))
    continue
  fi
  if ((stage > 1)); then
    if [[ $cmd == COPY && $rest == --from=build* ]]; then
      read -r _ final_copy _ <<<"$rest"
    fi
    continue
  fi
  case $cmd in
    ARG)
      name=${rest%%=*}
      val=""
      [[ $rest == *=* ]] && val=${rest#*=} && val=${val//\"/}
      args[$name]=${!name:-$val}
      ;;
    WORKDIR)
      dir=$(abs "$rest")
      mkdir -p "$dir"
      ;;
    COPY)
      read -r -a words <<<"$rest"
      dest=${words[-1]}
      [[ $dest == /* ]] && dest=$(abs "$dest") || dest=$dir/$dest
      for src in "${words[@]:0:${#words[@]}-1}"; do
        if [[ $src == . ]]; then
          mkdir -p "$dest"
          cp -a "$ctx/." "$dest/"
        else
          [[ -e $ctx/$src ]] || { echo "image-build.sh: COPY $src: not in the build context" >&2; exit 1; }
          if [[ $dest == */ ]]; then mkdir -p "$dest"; fi
          cp -a "$ctx/$src" "$dest"
        fi
      done
      ;;
    RUN)
      words=()
      for w in $rest; do words+=("$(abs "$w")"); done
      echo "== RUN $rest"
      (
        cd "$dir"
        for a in "${!args[@]}"; do export "$a=${args[$a]}"; done
        eval "${words[*]}"
      )
      ;;
  esac
done < <(sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$root/Dockerfile" | grep -v '^\s*\(#\|$\)')

[[ -n $final_copy ]] || { echo "image-build.sh: the runtime stage copies nothing from the build stage" >&2; exit 1; }
bin=$(abs "$final_copy")
[[ -x $bin ]] || { echo "image-build.sh: $final_copy was not built" >&2; exit 1; }
"$bin" version
