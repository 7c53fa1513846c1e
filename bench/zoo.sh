#!/usr/bin/env bash
# The zoo gate: the product binary on every model of a directory, each model and
# its fault-injection variants checked for exit status, onnx.checker, ONNX
# Runtime's outputs at two sets of dims, shape truth, data-dependent dims and node
# count against ONNX Runtime's basic level (bench/zoo.py says what each check is).
# It prints a Markdown table and fails when a check that passes in the committed
# bench/zoo_results.tsv no longer passes.
#
#   bench/zoo.sh [zoo.py flags] MODEL_DIR
#
# zoo.py flags: --only a,b  --variants shuffled,fp16,novi,shared|none
#   --flags NAME='ARGS' (another flag set, repeatable)  --update (record this
#   run in the results TSV)  --results TSV  --keep  (bench/zoo.py -h)
#
# Environment:
#   QP_ORACLE_TOOLS  directory of the reference tools: ort_compare.js, ort_dims.js,
#                    ort_optimize.js, shape_truth.py (required)
#   ORACLE_DIR       where those tools find onnxruntime-node (their default:
#                    ~/.cache/onnx-oracles)
#   QUANTPREP        the binary to check (default: built here with scripts/build.sh)
#   ZOO_WORK         directory for variants, outputs and the cache (default: a new
#                    directory under ${TMPDIR:-/tmp}); variants and ONNX Runtime's
#                    node counts are cached there between runs
#   PYTHON           interpreter with onnx, numpy and sympy (default /usr/bin/python3)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-/usr/bin/python3}
if [[ $# -eq 0 || $1 == -h || $1 == --help ]]; then
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
fi
tools=${QP_ORACLE_TOOLS:?set QP_ORACLE_TOOLS to the directory of the reference tools (ort_compare.js, ...)}
work=${ZOO_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/qpzoo.XXXXXX")}
mkdir -p "$work"
bin=${QUANTPREP:-}
if [[ -z $bin ]]; then
  bin=$work/quantprep
  "$root/scripts/build.sh" "$bin" >/dev/null
fi
echo "zoo.sh: work directory $work" >&2
exec "$python" "$root/bench/zoo.py" --bin "$bin" --tools "$tools" --work "$work" \
  --results "$root/bench/zoo_results.tsv" "$@"
