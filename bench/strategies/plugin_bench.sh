#!/usr/bin/env bash
# Strategy benchmark: each strategy plugin and its Python reference side by side, on the same
# .npy inputs, one fresh process per case and one process at a time, 2 threads each.
#   bench/strategies/plugin_bench.sh [BUILD_DIR] [DATA_DIR] [STRATEGY ...]
# k = 100, L = 4,000 labeled rows, D = 512, n = 10,000 and 45,000 candidates, C = 10 and 100.
# SIZES="10000" and CLASSES="10" pick the sizes and class counts; QUARRY_ONLY=1 skips the references; the load average (1 minute)
# before and after each case is printed with it.
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
  local load
  load=$(cut -d' ' -f1 /proc/loadavg)
  q=$(nice "$bench" time "$data" "$build/plugins" "$name" "$n" "$c" "$k" "$@")
  if [ -n "${QUARRY_ONLY:-}" ]; then
    r="{\"skipped\": \"QUARRY_ONLY set\"}"
  elif [ $(( need_kb * 3 / 2 )) -gt "$avail_kb" ]; then
    r="{\"skipped\": \"needs $(( need_kb / 1024 / 1024 )) GB\"}"
  else
    r=$(cd "$here" && nice "$python" "reference_$name.py" "$data" "$n" "$c" "$k" "$@")
  fi
  local x="{}"
  # ProbCover: the reference again with the pairs at delta decided in float64, as Quarry decides
  # them: equal picks then mean the two sides differ only in the rounding of pairs at delta.
  if [ "$name" = probcover ] && [ -z "${QUARRY_ONLY:-}" ] && [ -z "${NO_EXACT_CHECK:-}" ]; then
    x=$(cd "$here" && nice "$python" "reference_$name.py" "$data" "$n" "$c" "$k" "$@" exact_graph=true)
  fi
  load="$load-$(cut -d' ' -f1 /proc/loadavg)"
  echo "$name n=$n C=$c|$q|$r|$x|$load" >> "$results"
  echo "done: $name n=$n C=$c" >&2
}
for s in "${which[@]}"; do
  for n in ${SIZES:-10000 45000}; do
    case $s in
      bald) for c in ${CLASSES:-10 100}; do run_case bald $n $c $(( n * c * 20 * 4 * 3 / 1024 )) mc_samples=20; done ;;
      # The reference's N x M x C float32 block per step, M = 1,000 configurations.
      batchbald) for c in ${CLASSES:-10 100}; do run_case batchbald $n $c $(( n * 1000 * c * 4 * 3 / 1024 )) mc_samples=20; done ;;
      # Both sides capped at 20 Lloyd iterations: the same work, minutes less.
      typiclust) run_case typiclust $n 10 $(( (n + 4000) * 512 * 8 / 1024 )) kmeans_iterations=20 ;;
      # delta = 10: about 30% of the candidates lie outside the labeled rows' balls, so the greedy
      # makes all k picks (at 14 the labeled rows cover everything and both sides fill at random).
      probcover) run_case probcover $n 10 $(( 500 * (n + 4000) * 4 * 4 / 1024 )) delta=10.0 normalize=false ;;
      dropquery|alfamix) for c in ${CLASSES:-10 100}; do run_case $s $n $c $(( n * 512 * 4 * 4 / 1024 )); done ;;
    esac
  done
done
"$python" - "$results" <<'PY'
import json, sys
def mb(b): return f"{b / 2**20:.1f} MB"
print("time: wall seconds (CPU seconds of all threads); speed-up: reference / Quarry, wall (CPU)")
print(f"{'case':<26} {'Quarry':>17} {'Q peak':>10} {'reference':>17} {'ref peak':>10} {'speed-up':>13} {'same picks':>10}  load")
for line in open(sys.argv[1]):
    name, q, r, x, load = line.rstrip("\n").split("|")
    q, r, x = json.loads(q), json.loads(r), json.loads(x)
    qt = f"{q['time_s']:.3f}s ({q['cpu_s']:.2f}s)"
    if "skipped" in r:
        print(f"{name:<26} {qt:>17} {mb(q['peak_bytes']):>10}   reference skipped: {r['skipped']}  {load}")
        continue
    same = len(set(q["picks"]) & set(r["picks"]))
    rt = f"{r['time_s']:.2f}s ({r['cpu_s']:.2f}s)"
    speed = f"{r['time_s'] / q['time_s']:.1f}x ({r['cpu_s'] / max(q['cpu_s'], 1e-9):.1f}x)"
    print(f"{name:<26} {qt:>17} {mb(q['peak_bytes']):>10} {rt:>17} {mb(r['peak_bytes']):>10}"
          f" {speed:>13} {same:>6}/{len(q['picks'])}  {load}")
    if "greedy" in r:
        print(f"{'':<26} reference: {r['edges']:,} directed edges, {r['greedy']} greedy picks before the random fill")
    if "picks" in x:
        xs = len(set(q["picks"]) & set(x["picks"]))
        print(f"{'':<26} reference on the float64-decided graph: {x['flipped_pairs']} pairs flipped, "
              f"{x['greedy']} greedy picks, same picks as Quarry {xs}/{len(q['picks'])}"
              f"{' (same order)' if x['picks'] == q['picks'] else ''}")
PY
rm -f "$results"
