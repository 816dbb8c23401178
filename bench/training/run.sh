#!/usr/bin/env bash
# Training throughput: Quarry's train_model against the plain PyTorch loop (reference.py),
# ResNet-18 on synthetic CIFAR-shaped data, CPU, batch 32 and 128; one fresh process per case,
# one process at a time, 2 threads each. See docs/training.md.
#   bench/training/run.sh [BUILD_DIR] [DATA_DIR]      (STEPS, WARMUP, THREADS, REPEAT, PYTHON: env)
# Each case runs REPEAT times (default 3), the sides interleaved; the table gives medians.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/../common.sh"
build=${1:-$root/build}
data=${2:-/tmp/quarry-bench-training}
bench=$build/bin/bench_training
steps=${STEPS:-30} warmup=${WARMUP:-5} threads=${THREADS:-2} repeat=${REPEAT:-3}
[ -x "$bench" ] || { echo "run.sh: $bench not built (ninja -C $build bench_training)" >&2; exit 1; }
# The Python side must run the same torch as the C++ build: Debian's python3-torch for
# Debian's LibTorch 1.13, the .venv's wheel for the PyPI 2.x build.
PYTHON=$(bench_python "$build")
bench_threads "$threads"

mkdir -p "$data"
[ -f "$data/images.npy" ] || nice "$bench" gen "$data"
torch_cpp=$(nice "$bench" time 1 0 0 "$threads" 2>/dev/null | sed 's/.*"torch": "\([^"]*\)".*/\1/' || true)
torch_py=$("$PYTHON" -c 'import torch; print(torch.__version__)')
echo "C++: LibTorch $torch_cpp; Python: $PYTHON, torch $torch_py; $steps timed steps after $warmup warm-up" >&2

results=$(mktemp)
for r in $(seq "$repeat"); do
  for b in 32 128; do
    # Interleave the sides so a change in the machine's load hits all of them alike.
    nice "$bench" time "$b" "$steps" "$warmup" "$threads" >> "$results"; echo "done: quarry b=$b ($r/$repeat)" >&2
    nice "$PYTHON" "$here/reference.py" "$data" "$b" "$steps" "$warmup" per_image "$threads" >> "$results"
    echo "done: python per-image b=$b ($r/$repeat)" >&2
    nice "$PYTHON" "$here/reference.py" "$data" "$b" "$steps" "$warmup" batched "$threads" >> "$results"
    echo "done: python batched b=$b ($r/$repeat)" >&2
  done
done

"$PYTHON" - "$results" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
cases = {}
for r in rows:
    cases.setdefault((r["batch"], r["side"]), []).append(r)
def med(rs, f): return statistics.median(f(r) for r in rs)
ips = lambda r: r["images_per_s"]
per_cpu = lambda r: r["steps"] * r["batch"] / max(r["cpu_seconds"], 1e-9)
print(f"{'batch':>5} {'side':<18} {'images/s':>9} {'(min-max)':>15} {'img/CPU-s':>9} {'GFLOP/s':>8} {'peak RSS':>10} {'Quarry/this':>11}")
for (b, side), rs in sorted(cases.items(), key=lambda kv: (kv[0][0], kv[0][1] != "quarry", kv[0][1])):
    q = med(cases[(b, "quarry")], ips)
    m = med(rs, ips)
    spread = f"({min(map(ips, rs)):.1f}-{max(map(ips, rs)):.1f})"
    print(f"{b:>5} {side:<18} {m:>9.2f} {spread:>15} {med(rs, per_cpu):>9.2f} {m * 3.3:>8.1f}"
          f" {max(r['peak_rss_mb'] for r in rs):>7.0f} MB {q / m:>10.2f}x")
print(f"medians of {len(next(iter(cases.values())))} runs per case; images/s = wall clock, img/CPU-s = per CPU-second of all threads")
PY
rm -f "$results"
