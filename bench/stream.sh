#!/usr/bin/env bash
# Measures the service's streams over loopback against a plain file copy on
# the same machine: `quantprep serve` on 127.0.0.1 and one
# `quantprep preprocess --server` with every step skipped (the server loads
# the model and saves it again), RUNS times.
#
#   bench/stream.sh [-n RUNS] MODEL
#
# Upload: from the client's start to the server's first progress event (the
# upload is complete and spooled, the model mapped). Download: from the
# server's "save finished" event to the client's end (the output streamed
# back and written). Both from the client's progress lines, which it prints
# only on a terminal: the client runs under script(1). The copy row is
# `cp MODEL` into the spool's file system, page cache to page cache, timed
# the same way. MB are 10^6 bytes.
#
# Environment: QUANTPREP (default: built here with scripts/build.sh),
# BENCH_DIR (default: a new directory under ${TMPDIR:-/tmp}, removed after).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
runs=3
if [[ ${1:-} == -n ]]; then runs=$2; shift 2; fi
[[ $# -eq 1 && -f $1 ]] || { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
model=$1
command -v script >/dev/null || { echo "stream.sh: script(1) is missing (util-linux)" >&2; exit 1; }
work=${BENCH_DIR:-}
if [[ -z $work ]]; then
  work=$(mktemp -d "${TMPDIR:-/tmp}/qpstream.XXXXXX")
  trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work/spool" "$work/out"
bin=${QUANTPREP:-}
if [[ -z $bin ]]; then
  bin=$work/quantprep
  "$root/scripts/build.sh" "$bin" >/dev/null
fi
size=$(stat -c %s "$model")
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 50199)
"$bin" serve --listen "127.0.0.1:$port" --temp_dir "$work/spool" --log_level warn 2>"$work/serve.err" &
spid=$!
trap 'kill $spid 2>/dev/null; wait $spid 2>/dev/null; [[ -z ${BENCH_DIR:-} ]] && rm -rf "$work"' EXIT
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

echo "model: $model ($((size / 1000000)) MB), $runs runs; load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-4s %10s %12s %10s %14s\n' run copy_MB/s upload_MB/s total_s download_MB/s
for i in $(seq "$runs"); do
  rm -f "$work/copy" "$work/out/model.onnx"
  t0=$(date +%s.%N); cp "$model" "$work/copy"; t1=$(date +%s.%N)
  rm -f "$work/copy"
  t2=$(date +%s.%N)
  script -q -e -c "$(printf '%q ' "$bin" preprocess --skip_symbolic_shape --skip_optimization --skip_onnx_shape \
    --server "127.0.0.1:$port" --input "$model" --output "$work/out/model.onnx")" /dev/null >"$work/client.$i.log"
  t3=$(date +%s.%N)
  out=$(stat -c %s "$work/out/model.onnx")
  tr -d '\r' <"$work/client.$i.log" | awk -v t0="$t0" -v t1="$t1" -v t2="$t2" -v t3="$t3" -v insize="$size" -v out="$out" -v run="$i" '
    /\(([0-9.]+)s\)$/ { t = $NF; gsub(/[()s]/, "", t); if (first == "") first = t; if ($0 ~ /save +finished/) saved = t }
    END {
      total = t3 - t2; down = total - saved
      printf "%-4s %10.0f %12.0f %10.2f %14.0f\n", run, insize / 1e6 / (t1 - t0), insize / 1e6 / first, total, out / 1e6 / down
    }'
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
