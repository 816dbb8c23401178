#!/usr/bin/env bash
# One DAL cycle on 45,000 x 384 embeddings: Quarry (bench_embeddings) against the PyTorch-Python
# loop a typical toolkit runs (reference.py: a Dataset of feature rows through a DataLoader).
# Train a linear head 200 epochs at batch 64 on 4,000 labels, then score 10,000 candidates with
# margin and with BADGE. Prints both sides' times and the ratio.
#   bench/embeddings/run.sh [BUILD_DIR] [DATA_DIR]      (THREADS, REPEAT, PYTHON: env)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/../common.sh"
build=${1:-$root/build}
data=${2:-/tmp/quarry-bench-embeddings}
bench=$build/bin/bench_embeddings
threads=${THREADS:-2} repeat=${REPEAT:-3}
[ -x "$bench" ] || { echo "run.sh: $bench not built (ninja -C $build bench_embeddings)" >&2; exit 1; }
PYTHON=$(bench_python "$build")
bench_threads "$threads"

mkdir -p "$data"
[ -f "$data/train_features.npy" ] || "$PYTHON" "$here/reference.py" gen "$data"
results=$(mktemp)
for r in $(seq "$repeat"); do
  nice "$bench" "$data" "$threads" >> "$results"; echo "done: quarry ($r/$repeat)" >&2
  nice "$PYTHON" "$here/reference.py" time "$data" "$threads" >> "$results"; echo "done: python ($r/$repeat)" >&2
done
"$PYTHON" - "$results" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
med = lambda side, key: statistics.median(r[key] for r in rows if r["side"] == side)
print(f"{'side':<8} {'train 200 ep':>12} {'margin':>8} {'BADGE':>8} {'cycle (margin)':>15} {'cycle (BADGE)':>14} {'test acc':>9}")
cyc = {}
for side in ("quarry", "python"):
    t, m, b = med(side, "train_seconds"), med(side, "margin_seconds"), med(side, "badge_seconds")
    cyc[side] = (t + m, t + b)
    print(f"{side:<8} {t:>11.3f}s {m:>7.3f}s {b:>7.3f}s {t + m:>14.3f}s {t + b:>13.3f}s {med(side, 'test_accuracy'):>9.4f}")
qc, pc = med("quarry", "train_cpu_seconds"), med("python", "train_cpu_seconds")
print(f"training CPU seconds (process CPU time; Quarry's from the training run once more alone, "
      f"wall {med('quarry', 'train_alone_seconds'):.3f}s): quarry {qc:.3f}s, python {pc:.3f}s, ratio {pc / qc:.1f}x")
print(f"Python/Quarry per cycle: {cyc['python'][0] / cyc['quarry'][0]:.1f}x (margin), "
      f"{cyc['python'][1] / cyc['quarry'][1]:.1f}x (BADGE); medians of {len(rows) // 2} runs, "
      f"{rows[0]['threads']} threads, torch {rows[0]['torch']} / {[r for r in rows if r['side'] == 'python'][0]['torch']}")
PY
rm -f "$results"
