#!/usr/bin/env bash
# Selection benchmark: Quarry's kernels and the Python reference side by side, on the same
# .npy inputs, one fresh process per case and one process at a time, 2 threads each.
#   bench/selection/run.sh [BUILD_DIR] [DATA_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
data=${2:-/tmp/quarry-bench-selection}
python=${PYTHON:-$root/.venv/bin/python}
bench=$build/bin/bench_selection
export OMP_NUM_THREADS=2 MKL_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2
# On a shared, loaded machine OpenMP's default spin-waiting turns every parallel region into
# a scheduling stall (13 s instead of 1.9 s for Core-Set n=10,000): wait passively, both sides.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
# Debian's OpenBLAS does not recognise this VM's CPU model and falls back to SSE3 kernels;
# name the core it is (AVX-512). PyTorch's wheel uses MKL, which detects it by itself.
if grep -q avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-SkylakeX}; fi
k=100

mkdir -p "$data"
[ -f "$data/labeled.npy" ] || nice "$bench" gen "$data"

avail_kb=$(awk '/MemAvailable/ {print $2}' /proc/meminfo)
results=$(mktemp)
run_case() {  # name which n c
  local name=$1 which=$2 n=$3 c=$4 q r
  q=$(nice "$bench" time "$data" "$which" "$n" "$c" "$k")
  # The BADGE reference holds the N x C*512 embedding plus one same-size temporary;
  # run it only with half as much again to spare.
  local need_kb=$(( 2 * n * c * 512 * 4 / 1024 ))
  if [ "$which" = badge ] && [ $(( need_kb * 3 / 2 )) -gt "$avail_kb" ]; then
    r="{\"skipped\": \"needs $(awk "BEGIN {printf \"%.1f\", $n*$c*512*4/1e9}") GB\"}"
  else
    r=$(nice "$python" "$here/reference.py" "$data" "$which" "$n" "$c" "$k")
  fi
  echo "$name|$q|$r" >> "$results"
  echo "done: $name" >&2
}
run_case "coreset n=10000 L=4000" coreset 10000 0
run_case "coreset n=45000 L=4000" coreset 45000 0
run_case "badge n=10000 C=10" badge 10000 10
run_case "badge n=45000 C=10" badge 45000 10
run_case "badge n=10000 C=100" badge 10000 100
run_case "badge n=45000 C=100" badge 45000 100

"$python" - "$results" <<'PY'
import json, sys
def mb(b): return f"{b / 2**20:.1f} MB"
print(f"{'case':<24} {'Quarry':>9} {'Q peak':>10} {'reference':>10} {'ref peak':>10} {'speed-up':>9} {'mem':>7} {'same picks':>10}")
mismatch = False
for line in open(sys.argv[1]):
    name, q, r = line.rstrip("\n").split("|")
    q, r = json.loads(q), json.loads(r)
    if "skipped" in r:
        print(f"{name:<24} {q['time_s']:>8.3f}s {mb(q['peak_bytes']):>10} {'skipped: ' + r['skipped']:>32}")
        continue
    # Core-Set is deterministic: both sides must pick the same positions in the same order.
    # BADGE samples with different generators (NumPy's and Quarry's), so its picks differ by design.
    if name.startswith("coreset"):
        same = "yes" if q["picks"] == r["picks"] else "NO"
        mismatch |= same == "NO"
    else:
        same = "-"
    print(f"{name:<24} {q['time_s']:>8.3f}s {mb(q['peak_bytes']):>10} {r['time_s']:>9.2f}s {mb(r['peak_bytes']):>10}"
          f" {r['time_s'] / q['time_s']:>8.1f}x {100 * q['peak_bytes'] / max(r['peak_bytes'], 1):>6.2f}%"
          f" {same:>10}")
if mismatch:
    sys.exit("Core-Set: Quarry and the reference picked different positions")
PY
rm -f "$results"
