#!/usr/bin/env bash
# Strategy benchmark (bait, max_herding, uncertainty_herding): Quarry's kernels and the Python
# references side by side on the same .npy inputs, one fresh process per case and one process
# at a time, 2 threads each, k = 100, L = 4,000, D = 512, memory budget 1 GiB.
#   bench/strategies/run.sh [BUILD_DIR] [DATA_DIR]   (CASES="bait herding" by default; ONLY=REGEX picks cases by label)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
data=${2:-/tmp/quarry-bench-strategies}
python=${PYTHON:-/usr/bin/python3}  # Debian's: NumPy and torch 1.13 (the .venv has no NumPy)
cases=${CASES:-bait herding}
export OMP_NUM_THREADS=2 MKL_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}  # see bench/selection/run.sh
if grep -q avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-SkylakeX}; fi
k=100

mkdir -p "$data"
[ -f "$data/labeled_probs_100.npy" ] || nice "$build/bin/bench_bait" gen "$data"
results=$(mktemp)
gemm=$(nice "$build/bin/bench_bait" gemm)
echo "matrix-product bound (LibTorch, 4096^3, 2 threads): $gemm"

run_case() {  # label quarry-command... -- reference-args...
  local label=$1; shift
  if [ -n "${ONLY:-}" ] && ! [[ "$label" =~ $ONLY ]]; then return 0; fi  # ONLY=REGEX: a subset of the cases
  local q=() r=()
  while [ "$1" != "--" ]; do q+=("$1"); shift; done; shift
  r=("$@")
  local qo ro
  qo=$(nice "${q[@]}")
  ro=$(nice "$python" "${r[@]}")
  echo "$label|$qo|$ro" >> "$results"
  echo "done: $label" >&2
}
b="$build/bin/bench_bait"; h="$build/bin/bench_herding"
if [[ " $cases " == *" bait "* ]]; then
  run_case "bait ce C=10 n=10000"        "$b" time "$data" 10000 10 $k ce   -- "$here/bait.py" "$data" 10000 10 $k ce extrapolate
  run_case "bait ce C=10 n=45000"        "$b" time "$data" 45000 10 $k ce   -- "$here/bait.py" "$data" 45000 10 $k ce extrapolate
  run_case "bait ce float32 C=10 n=10000" "$b" time "$data" 10000 10 $k ce float32 -- "$here/bait.py" "$data" 10000 10 $k ce extrapolate
  run_case "bait ce_top1 C=10 n=10000"   "$b" time "$data" 10000 10 $k ce_top1 -- "$here/bait.py" "$data" 10000 10 $k ce_top1 extrapolate
  run_case "bait ce C=100 n=10000"       "$b" time "$data" 10000 100 $k ce  -- "$here/bait.py" "$data" 10000 100 $k ce needs
  run_case "bait ce_top1 C=100 n=10000"  "$b" time "$data" 10000 100 $k ce_top1 -- "$here/bait.py" "$data" 10000 100 $k ce_top1 needs
  run_case "bait bce C=10 n=10000"       "$b" time "$data" 10000 10 $k bce  -- "$here/bait.py" "$data" 10000 10 $k bce full
  run_case "bait bce C=10 n=45000"       "$b" time "$data" 45000 10 $k bce  -- "$here/bait.py" "$data" 45000 10 $k bce extrapolate
  run_case "bait bce C=100 n=10000"      "$b" time "$data" 10000 100 $k bce -- "$here/bait.py" "$data" 10000 100 $k bce full
  run_case "bait bce C=100 n=45000"      "$b" time "$data" 45000 100 $k bce -- "$here/bait.py" "$data" 45000 100 $k bce extrapolate
fi
if [[ " $cases " == *" herding "* ]]; then
  run_case "max_herding n=10000"             "$h" time "$data" 10000 10 $k max -- "$here/herding.py" "$data" 10000 10 $k max full
  run_case "max_herding n=45000"             "$h" time "$data" 45000 10 $k max -- "$here/herding.py" "$data" 45000 10 $k max extrapolate
  run_case "uncertainty_herding C=10 n=10000"  "$h" time "$data" 10000 10 $k uncertainty -- "$here/herding.py" "$data" 10000 10 $k uncertainty full
  run_case "uncertainty_herding C=100 n=10000" "$h" time "$data" 10000 100 $k uncertainty -- "$here/herding.py" "$data" 10000 100 $k uncertainty full
  run_case "uncertainty_herding C=10 n=45000"  "$h" time "$data" 45000 10 $k uncertainty -- "$here/herding.py" "$data" 45000 10 $k uncertainty extrapolate
  run_case "uncertainty_herding C=100 n=45000" "$h" time "$data" 45000 100 $k uncertainty -- "$here/herding.py" "$data" 45000 100 $k uncertainty extrapolate
fi

"$python" - "$results" "$gemm" <<'PY'
import json, sys
gemm = json.loads(sys.argv[2])
def mb(b): return f"{b / 2**20:,.0f} MB" if b >= 2**20 else f"{b / 2**20:.1f} MB"
print("time: wall seconds (CPU seconds of all threads); speed-up: reference / Quarry, wall (CPU)")
print(f"{'case':<34} {'Quarry':>16} {'Q peak':>9} {'bound':>7} {'reference':>18} {'ref peak':>9} {'speed-up':>14} {'same picks':>10}  note")
for line in open(sys.argv[1]):
    name, q, r = line.rstrip("\n").split("|")
    q, r = json.loads(q), json.loads(r)
    if "error" in q:
        print(f"{name:<34} {'does not fit':>16}  Quarry: {q['error'][:150]}...")
        print(f"{'':<34} {'':>9}  reference: {r.get('skipped', '')} (materialised, float32)")
        continue
    est = r.get("extrapolated", False)
    ref = f"{'~' if est else ''}{r['time_s']:.1f}s ({r['cpu_s']:.1f}s)"
    qt = f"{q['time_s']:.2f}s ({q['cpu_s']:.2f}s)"
    speed = f"{r['time_s'] / q['time_s']:.0f}x ({r['cpu_s'] / max(q['cpu_s'], 1e-9):.0f}x)"
    same = "-"
    if "picks" in r:
        same = f"{len(set(q['picks']) & set(r['picks']))}/{len(q['picks'])}" + (" (order)" if q["picks"] == r["picks"] else "")
    note = (r.get("note", "") + f"; the full case needs {r['needs_bytes'] / 1e9:.1f} GB") if est else ""
    # bound: the kernel's floating-point work at this machine's matrix-product rate
    rate = gemm["dgemm_gflops"] if q.get("double") else gemm["sgemm_gflops"]
    bound = f"{q['gflop'] / rate:.2f}s"
    print(f"{name:<34} {qt:>16} {mb(q['peak_bytes']):>9} {bound:>7} {ref:>18} {mb(r['peak_bytes']):>9}"
          f" {speed:>14} {same:>10}  {'estimate: ' + note if est else ''}")
PY
rm -f "$results"
