#!/usr/bin/env bash
# Strategy benchmark: each strategy plugin and its Python reference side by side, on the same
# .npy inputs, one fresh process per case and one process at a time, 2 threads each.
#   bench/strategies/plugin_bench.sh [BUILD_DIR] [DATA_DIR] [STRATEGY ...]
# k = 100, L = 4,000 labeled rows, D = 512, n = 10,000 and 45,000 candidates, C = 10 and 100.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
data=${2:-/tmp/quarry-bench-strategy-plugins}
shift $(( $# > 2 ? 2 : $# )) || true
which=("$@")
[ ${#which[@]} -gt 0 ] || which=(bald batchbald typiclust probcover dropquery alfamix)
python=${PYTHON:-/usr/bin/python3}  # Debian's: torch 1.13 (the LibTorch Quarry is built with), NumPy, scikit-learn
bench=$build/bin/bench_strategy_plugins
export OMP_NUM_THREADS=2 MKL_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
if grep -q avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-SkylakeX}; fi
k=100
mkdir -p "$data"
[ -f "$data/mc_45000_100.npy" ] || nice "$bench" gen "$data"
avail_kb=$(awk '/MemAvailable/ {print $2}' /proc/meminfo)
results=$(mktemp)
run_case() {  # strategy n c need_kb [key=value ...]: need_kb = what the reference materialises
  local name=$1 n=$2 c=$3 need_kb=$4 q r
  shift 4
  q=$(nice "$bench" time "$data" "$build/plugins" "$name" "$n" "$c" "$k" "$@")
  if [ $(( need_kb * 3 / 2 )) -gt "$avail_kb" ]; then
    r="{\"skipped\": \"needs $(( need_kb / 1024 / 1024 )) GB\"}"
  else
    r=$(cd "$here" && nice "$python" "reference_$name.py" "$data" "$n" "$c" "$k" "$@")
  fi
  echo "$name n=$n C=$c|$q|$r" >> "$results"
  echo "done: $name n=$n C=$c" >&2
}
for s in "${which[@]}"; do
  for n in 10000 45000; do
    case $s in
      bald) for c in 10 100; do run_case bald $n $c $(( n * c * 20 * 4 * 3 / 1024 )) mc_samples=20; done ;;
      # The reference's N x M x C float32 block per step, M = 1,000 configurations.
      batchbald) for c in 10 100; do run_case batchbald $n $c $(( n * 1000 * c * 4 * 3 / 1024 )) mc_samples=20; done ;;
      # Both sides capped at 20 Lloyd iterations: the same work, minutes less.
      typiclust) run_case typiclust $n 10 $(( (n + 4000) * 512 * 8 / 1024 )) kmeans_iterations=20 ;;
      probcover) run_case probcover $n 10 $(( 500 * (n + 4000) * 4 * 4 / 1024 )) delta=14.0 normalize=false ;;
      dropquery|alfamix) for c in 10 100; do run_case $s $n $c $(( n * 512 * 4 * 4 / 1024 )); done ;;
    esac
  done
done
"$python" - "$results" <<'PY'
import json, sys
def mb(b): return f"{b / 2**20:.1f} MB"
print(f"{'case':<26} {'Quarry':>9} {'Q peak':>10} {'reference':>10} {'ref peak':>10} {'speed-up':>9} {'same picks':>10}")
for line in open(sys.argv[1]):
    name, q, r = line.rstrip("\n").split("|")
    q, r = json.loads(q), json.loads(r)
    if "skipped" in r:
        print(f"{name:<26} {q['time_s']:>8.3f}s {mb(q['peak_bytes']):>10}   reference skipped: {r['skipped']}")
        continue
    same = len(set(q["picks"]) & set(r["picks"]))
    print(f"{name:<26} {q['time_s']:>8.3f}s {mb(q['peak_bytes']):>10} {r['time_s']:>9.2f}s {mb(r['peak_bytes']):>10}"
          f" {r['time_s'] / q['time_s']:>8.1f}x {same:>6}/{len(q['picks'])}")
PY
rm -f "$results"
