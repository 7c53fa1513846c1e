#!/usr/bin/env bash
# Measures the product binary on real models: wall time and peak RSS of
# `quantprep preprocess`, the nodes and full shapes before and after (from
# --json), and whether the output passes onnx.checker and gives ONNX Runtime the
# same results as the original. Prints one table row per run.
#
#   bench/run.sh [--remote NAME[,NAME...]] MODEL_OR_DIR...
#
# A MODEL is an .onnx file (its external data beside it). A DIR is searched for
# DIR/*.onnx and DIR/*/model.onnx (the layout gen_models.py writes); a model
# named model.onnx is reported under its directory's name.
#
# Runs per model:
#   default   quantprep's defaults (the reference tool's), inline save; a model
#             over 2 GB is expected to fail here with "too large" (protobuf's
#             limit), as the reference tool does;
#   external  --save_as_external_data --all_tensors_to_one_file, for a model that
#             has external data or is over 2 GB;
#   remote    (models named in --remote) `quantprep serve` on 127.0.0.1 and
#             `preprocess --server`, default options: the client's wall time and
#             the server's peak RSS.
#
# Environment:
#   QUANTPREP   the binary to measure (default: built here with scripts/build.sh)
#   BENCH_DIR   where outputs, logs and results.tsv go (default: a new directory
#               under ${TMPDIR:-/tmp}); outputs of large models are big
#   ORT_COMPARE path of ort_compare.js (the shared reference tools); unset: no
#               ONNX Runtime comparison
#   ORT_DIMS    values of symbolic dims for it (default {"batch":2,"sequence":7})
#   ORT_MAX_GB  skip the ONNX Runtime comparison for models larger than this
#               (it holds the original and the output at once; default: half
#               of MemAvailable, in GB)
#   PYTHON      interpreter with the onnx package (default /usr/bin/python3)
#   KEEP        1 keeps the outputs (default: each run's output is deleted once
#               it is checked)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-/usr/bin/python3}
dims=${ORT_DIMS:-'{"batch":2,"sequence":7}'}
remote=","

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
while [[ $# -gt 0 ]]; do
  case $1 in
    --remote) remote=",$2,"; shift 2 ;;
    --remote=*) remote=",${1#--remote=},"; shift ;;
    -h|--help) usage ;;
    --) shift; break ;;
    -*) echo "run.sh: unknown flag $1" >&2; usage ;;
    *) break ;;
  esac
done
[[ $# -gt 0 ]] || usage

[[ -x /usr/bin/time ]] || { echo "run.sh: /usr/bin/time is missing (apt-get install time)" >&2; exit 1; }
"$python" -c 'import onnx' 2>/dev/null || { echo "run.sh: $python has no onnx package (apt-get install python3-onnx)" >&2; exit 1; }

work=${BENCH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/qpbench.XXXXXX")}
mkdir -p "$work"
bin=${QUANTPREP:-}
if [[ -z $bin ]]; then
  bin=$work/quantprep
  "$root/scripts/build.sh" "$bin" >/dev/null
fi
if [[ -z ${ORT_MAX_GB:-} ]]; then
  ORT_MAX_GB=$(awk '/MemAvailable/ {printf "%.1f", $2/1048576/2}' /proc/meminfo)
fi

# Collect the models.
models=()
for a in "$@"; do
  if [[ -d $a ]]; then
    shopt -s nullglob
    for f in "$a"/*.onnx "$a"/*/model.onnx; do models+=("$f"); done
    shopt -u nullglob
  elif [[ -f $a ]]; then
    models+=("$a")
  else
    echo "run.sh: $a: no such file or directory" >&2; exit 2
  fi
done
[[ ${#models[@]} -gt 0 ]] || { echo "run.sh: no models found in $*" >&2; exit 2; }

label() {
  local f=$1 b
  b=$(basename "$f" .onnx)
  if [[ $b == model ]]; then basename "$(dirname "$f")"; else echo "$b"; fi
}

# info MODEL prints "BYTES HAS_EXTERNAL": the model file plus every external
# data file it names, and whether it names any. It reads no tensor data.
info() { "$python" "$root/bench/model_info.py" "$1"; }

# check OUT prints onnx.checker's verdict on the path form (which also works
# for models over 2 GB and checks their external data).
check() {
  "$python" - "$1" <<'EOF' 2>&1 | tail -1 | cut -c1-200
import sys, onnx
try:
    onnx.checker.check_model(sys.argv[1])
    print("ok")
except Exception as e:
    print("FAIL: " + str(e).replace("\n", " "))
EOF
}

# jq-free reading of the --json summary.
summary() {
  "$python" - "$1" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
g = lambda k: int(s.get(k, 0))
steps = " ".join("%s=%.1fs" % (st["name"], int(st.get("wall_time_micros", 0)) / 1e6)
                 for st in s.get("steps", []) if not st.get("skipped"))
print(g("nodes_before"), g("nodes_after"), g("full_shapes_before"), g("full_shapes_after"),
      g("node_outputs_after"), steps.replace(" ", ","))
EOF
}

# timed LOG CMD... runs CMD under /usr/bin/time -v; sets secs and rss_mb.
timed() {
  local log=$1; shift
  local rc=0
  /usr/bin/time -v -o "$log.time" "$@" >"$log.out" 2>"$log.err" || rc=$?
  secs=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,t,":"); s=0; for(i=1;i<=n;i++) s=s*60+t[i]; printf "%.2f", s}' "$log.time")
  rss_mb=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$log.time")
  return $rc
}

results=$work/results.tsv
printf 'model\tsize_mb\trun\tstatus\twall_s\tpeak_rss_mb\tnodes_before\tnodes_after\tfull_before\tfull_after\toutputs_after\tchecker\tort\tsteps\n' >"$results"

row() { printf '%s\n' "$(IFS=$'\t'; echo "$*")" >>"$results"; }

# ort ORIG OUT SIZE prints ONNX Runtime's verdict.
ort() {
  local orig=$1 out=$2 size=$3
  if [[ -z ${ORT_COMPARE:-} ]]; then echo "not run (ORT_COMPARE unset)"; return; fi
  if awk -v s="$size" -v m="$ORT_MAX_GB" 'BEGIN {exit !(s/1e9 > m)}'; then
    echo "not run (model over ${ORT_MAX_GB} GB: both copies would not fit in memory)"; return
  fi
  local o rc=0
  o=$(node "$ORT_COMPARE" "$orig" "$out" "$dims" 2>&1) || rc=$?
  o=$(tail -1 <<<"$o" | cut -c1-300)
  if [[ $rc -eq 0 ]]; then echo "ok $o"; else echo "FAIL $o"; fi
}

run_local() {
  local f=$1 name=$2 size=$3 kind=$4; shift 4
  local d=$work/$name.$kind
  rm -rf "$d"; mkdir -p "$d"
  local out=$d/model.onnx log=$work/$name.$kind
  echo "== $name ($kind): quantprep preprocess $*" >&2
  local status=ok
  timed "$log" "$bin" preprocess --input "$f" --output "$out" --json "$@" || status=failed
  if [[ $status == ok ]]; then
    local s chk o
    s=$(summary "$log.out")
    read -r nb na fb fa oa steps <<<"$s"
    chk=$(check "$out")
    o=$(ort "$f" "$out" "$size")
    row "$name" "$((size / 1000000))" "$kind" ok "$secs" "$rss_mb" "$nb" "$na" "$fb" "$fa" "$oa" "$chk" "$o" "$steps"
  else
    local e
    e=$(tail -1 "$log.err" | cut -c1-200)
    row "$name" "$((size / 1000000))" "$kind" "failed: $e" "$secs" "$rss_mb" - - - - - - - -
  fi
  [[ ${KEEP:-0} == 1 ]] || rm -rf "$d"
}

run_remote() {
  local f=$1 name=$2 size=$3
  local d=$work/$name.remote
  rm -rf "$d"; mkdir -p "$d"
  local port
  port=$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  echo "== $name (remote): quantprep serve on 127.0.0.1:$port" >&2
  /usr/bin/time -v -o "$work/$name.server.time" "$bin" serve --listen "127.0.0.1:$port" \
    --temp_dir "$d" --log_level warn 2>"$work/$name.server.err" &
  local tpid=$! spid=""
  for _ in $(seq 100); do
    spid=$(pgrep -P "$tpid" || true)
    if [[ -n $spid ]] && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
    sleep 0.1
  done
  local status=ok
  timed "$work/$name.remote" "$bin" preprocess --server "127.0.0.1:$port" --input "$f" --output "$d/model.onnx" --json || status=failed
  local csecs=$secs crss=$rss_mb
  [[ -n $spid ]] && kill -TERM "$spid"
  wait "$tpid" || true
  local srss
  srss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$work/$name.server.time")
  if [[ $status == ok ]]; then
    local s chk o
    s=$(summary "$work/$name.remote.out")
    read -r nb na fb fa oa steps <<<"$s"
    chk=$(check "$d/model.onnx")
    o=$(ort "$f" "$d/model.onnx" "$size")
    row "$name" "$((size / 1000000))" "remote" ok "$csecs" "server $srss, client $crss" "$nb" "$na" "$fb" "$fa" "$oa" "$chk" "$o" "$steps"
  else
    row "$name" "$((size / 1000000))" "remote" "failed: $(tail -1 "$work/$name.remote.err" | cut -c1-200)" "$csecs" "server $srss, client $crss" - - - - - - - -
  fi
  [[ ${KEEP:-0} == 1 ]] || rm -rf "$d"
}

for f in "${models[@]}"; do
  name=$(label "$f")
  read -r size has_ext <<<"$(info "$f")"
  run_local "$f" "$name" "$size" default
  if [[ $has_ext == 1 || $size -gt 2147483647 ]]; then
    run_local "$f" "$name" "$size" external --save_as_external_data --all_tensors_to_one_file
  fi
  if [[ $remote == *",$name,"* ]]; then
    run_remote "$f" "$name" "$size"
  fi
done

echo >&2
echo "results: $results (logs beside it)" >&2
# The table, for the terminal and for bench/README.md.
"$python" - "$results" <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
cols = [("model", "model"), ("size_mb", "MB"), ("run", "run"), ("status", "status"), ("wall_s", "wall s"),
        ("peak_rss_mb", "peak RSS MB"), ("nodes_before", "nodes in"), ("nodes_after", "nodes out"),
        ("full_before", "full shapes in"), ("full_after", "full shapes out"), ("outputs_after", "node outputs out"),
        ("checker", "onnx.checker"), ("ort", "ONNX Runtime")]
print("| " + " | ".join(h for _, h in cols) + " |")
print("|" + "---|" * len(cols))
for r in rows:
    ort = r["ort"]
    if ort.startswith("ok"):
        ort = "same outputs"
    print("| " + " | ".join((ort if k == "ort" else r[k]) for k, _ in cols) + " |")
print()
for r in rows:
    if r["steps"] not in ("", "-"):
        print("%s/%s steps: %s" % (r["model"], r["run"], r["steps"].replace(",", " ")))
EOF
