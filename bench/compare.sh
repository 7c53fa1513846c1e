#!/usr/bin/env bash
# Runs the reference tool (ONNX Runtime's quant_pre_process, as its users run
# it) and quantprep side by side on the same model: alternately, RUNS times
# each, with the same flags. Prints each run, then the median wall time of
# each tool, the ratio, and the peaks of resident and of anonymous memory.
#
#   bench/compare.sh [-n RUNS] [--remote | --shared] MODEL [FLAG...]
#
# With --remote the peer is not the reference but quantprep's own remote path:
# `quantprep serve` on 127.0.0.1 (started here, one server for all runs) and
# `quantprep preprocess --server`, alternating with local runs of the same
# binary; the ratio is remote / local, and the server's peak RSS and anonymous
# memory are printed at the end (its outputs are spool files it removes).
# --shared is --remote through a shared directory (serve --shared_dir and
# preprocess --shared_dir, a directory beside the outputs): the sidecar's way,
# where no byte of the model crosses the connection.
#
# FLAGs are quant_pre_process's (quantprep has the same names), for example
# --save_as_external_data --all_tensors_to_one_file. Outputs are written to a
# temporary directory and deleted after each run.
#
# Memory is sampled from /proc every 10 ms over the whole process tree (the
# reference runs Python, and node for ONNX Runtime's optimizer):
#   peak RSS   the largest VmHWM of any one process of the tree (what
#              /usr/bin/time -v reports), in MB (10^6 bytes);
#   peak anon  the largest sum of RssAnon over the tree: memory that is not
#              a file's page cache (heap, stacks, private copies). A mapped
#              model file counts in RSS but not here.
#
# Environment:
#   REF         the reference's ref_preprocess.sh (required; see the bench
#               README for its setup)
#   QUANTPREP   the binary to measure (default: built here with scripts/build.sh)
#   PYTHON      interpreter for the sampler (default /usr/bin/python3)
#   BENCH_DIR   where outputs and logs go (default: a new directory under
#               ${TMPDIR:-/tmp}, removed at the end unless KEEP=1)
#   SKIP_REF    1 runs quantprep only (the reference takes minutes on large models)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-/usr/bin/python3}
runs=3
remote=0
shared=0
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
while [[ $# -gt 0 ]]; do
  case $1 in
    -n) runs=$2; shift 2 ;;
    --remote) remote=1; shift ;;
    --shared) remote=1; shared=1; shift ;;
    -h|--help) usage ;;
    *) break ;;
  esac
done
[[ $# -ge 1 ]] || usage
model=$1; shift
[[ -f $model ]] || { echo "compare.sh: $model: no such file" >&2; exit 2; }
skip_ref=${SKIP_REF:-0}
if [[ $skip_ref != 1 && $remote != 1 ]]; then
  [[ -n ${REF:-} && -x ${REF:-} ]] || { echo "compare.sh: set REF to the reference's ref_preprocess.sh" >&2; exit 2; }
fi

work=${BENCH_DIR:-}
if [[ -z $work ]]; then
  work=$(mktemp -d "${TMPDIR:-/tmp}/qpcompare.XXXXXX")
  [[ ${KEEP:-0} == 1 ]] || trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work"
bin=${QUANTPREP:-}
if [[ -z $bin ]]; then
  bin=$work/quantprep
  "$root/scripts/build.sh" "$bin" >/dev/null
fi

# measure LOG CMD... runs CMD, sampling its process tree; prints
# "WALL_S PEAK_RSS_MB PEAK_ANON_MB RC".
measure() {
  local log=$1; shift
  "$python" - "$log" "$@" <<'EOF'
import os, subprocess, sys, time
log, cmd = sys.argv[1], sys.argv[2:]
def kb(pid, key):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0
def tree(pid):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for t in os.listdir("/proc/%d/task" % p):
                with open("/proc/%d/task/%s/children" % (p, t)) as f:
                    todo += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return out
with open(log + ".out", "w") as o, open(log + ".err", "w") as e:
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=o, stderr=e)
    hwm = anon = 0
    while p.poll() is None:
        pids = tree(p.pid)
        anon = max(anon, sum(kb(q, "RssAnon:") for q in pids))
        hwm = max([hwm] + [kb(q, "VmHWM:") for q in pids])
        time.sleep(0.01)
    wall = time.monotonic() - t0
import resource
hwm = max(hwm, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
print("%.2f %d %d %d" % (wall, hwm * 1024 // 10**6, anon * 1024 // 10**6, p.returncode))
EOF
}

# The model's size: its file and the external data files it names (read
# without loading any tensor; onnx's Python package, else the file alone).
size=$("$python" "$root/bench/model_info.py" "$model" 2>/dev/null | cut -d" " -f1) || size=""
[[ -n $size ]] || size=$(stat -c %s "$model")
echo "model: $model ($((size / 1000000)) MB with its external data), flags: ${*:-(defaults)}, $runs runs each, alternating"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GB", $2/1048576}' /proc/meminfo), load average $(cut -d' ' -f1-3 /proc/loadavg)"
tools=(reference quantprep)
[[ $skip_ref == 1 ]] && tools=(quantprep)
spid=""
if [[ $remote == 1 ]]; then
  tools=(local remote)
  port=$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  mkdir -p "$work/spool" "$work/shared"
  sflags=()
  [[ $shared == 1 ]] && sflags=(--shared_dir "$work/shared")
  "$bin" serve --listen "127.0.0.1:$port" --temp_dir "$work/spool" "${sflags[@]}" --log_level warn 2>"$work/server.err" &
  spid=$!
  trap 'kill -TERM $spid 2>/dev/null; wait $spid 2>/dev/null; [[ ${KEEP:-0} == 1 || -n ${BENCH_DIR:-} ]] || rm -rf "$work"' EXIT
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
  done
  echo "server: quantprep serve on 127.0.0.1:$port (pid $spid)"
fi
printf '%-10s %4s %8s %12s %13s  %s\n' tool run wall_s peak_rss_mb peak_anon_mb status
results=$work/results.tsv
: >"$results"
for i in $(seq "$runs"); do
  for tool in "${tools[@]}"; do
    out=$work/out.$tool
    rm -rf "$out"; mkdir -p "$out"
    log=$work/$tool.$i
    case $tool in
      reference) r=$(measure "$log" "$REF" "$model" "$out/model.onnx" "$@") ;;
      remote) r=$(measure "$log" "$bin" preprocess --server "127.0.0.1:$port" "${sflags[@]}" --input "$model" --output "$out/model.onnx" "$@") ;;
      *) r=$(measure "$log" "$bin" preprocess --input "$model" --output "$out/model.onnx" "$@") ;;
    esac
    read -r wall rss anon rc <<<"$r"
    status=ok
    [[ $rc == 0 ]] || status="failed (exit $rc): $(tail -1 "$log.err" | cut -c1-150)"
    # The remote output must be the local one, byte for byte (outside the timing).
    if [[ $tool == remote && $rc == 0 ]]; then
      if diff -rq "$work/out.local" "$out" >/dev/null; then status="ok, same bytes as local"; else status="DIFFERS from the local output"; fi
    fi
    printf '%-10s %4s %8s %12s %13s  %s\n' "$tool" "$i" "$wall" "$rss" "$anon" "$status"
    printf '%s\t%s\t%s\t%s\t%s\n' "$tool" "$wall" "$rss" "$anon" "$rc" >>"$results"
    [[ $tool == local ]] || rm -rf "$out" "$work/out.local"
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
if [[ -n $spid ]]; then
  echo "server: peak RSS $(awk '/VmHWM/ {printf "%d MB", $2*1024/1e6}' /proc/$spid/status), anonymous now $(awk '/RssAnon/ {printf "%d MB", $2*1024/1e6}' /proc/$spid/status)"
fi
"$python" - "$results" "$size" "${tools[@]}" <<'EOF'
import statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().splitlines()]
size = int(sys.argv[2]) / 1e6
med = {}
print()
print("| tool | runs ok | median wall | min - max | peak RSS | peak anon | peak anon / model size |")
print("|---|---|---|---|---|---|---|")
tools = sys.argv[3:]
for tool in tools:
    ok = [r for r in rows if r[0] == tool and r[4].strip() == "0"]
    if not ok:
        if any(r[0] == tool for r in rows):
            print("| %s | 0 | failed | | | | |" % tool)
        continue
    walls = [float(r[1]) for r in ok]
    med[tool] = statistics.median(walls)
    rss, anon = max(int(r[2]) for r in ok), max(int(r[3]) for r in ok)
    print("| %s | %d | %.2f s | %.2f - %.2f s | %d MB | %d MB | %.2fx |" % (
        tool, len(ok), med[tool], min(walls), max(walls), rss, anon, anon / size))
if len(med) == 2 and "reference" in med:
    print()
    print("quantprep is %.1fx faster than the reference (median wall times)" % (med["reference"] / med["quantprep"]))
elif len(med) == 2:
    print()
    print("the remote run takes %.2fx the local run's time (median wall times)" % (med["remote"] / med["local"]))
EOF
