#!/usr/bin/env bash
# Monte-Carlo dropout end to end (a whole BALD query, forward passes included), three sides in one
# run, one fresh process per case, one process at a time:
#   quarry-trunk  Quarry as it runs: the model's trunk once per batch, the head S times
#   quarry-full   Quarry with the model's sample_logits hidden: S whole forward passes
#   reference     PyTorch as the common toolkits run MC dropout (reference.py): S whole passes
#   bench/mc_dropout/run.sh [BUILD_DIR]     env: CASES ("MODEL:N" ...), SAMPLES, K, THREADS, PYTHON
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/../common.sh"
build=${1:-$root/build}
bench=$build/bin/bench_mc_dropout
cases=${CASES:-small_cnn:10000 resnet18:500} samples=${SAMPLES:-20} k=${K:-100} threads=${THREADS:-2}
[ -x "$bench" ] || { echo "run.sh: $bench not built (ninja -C $build bench_mc_dropout)" >&2; exit 1; }
PYTHON=$(bench_python "$build")
bench_threads "$threads"

results=$(mktemp)
for c in $cases; do
  model=${c%%:*} n=${c#*:}
  load=$(cut -d' ' -f1 /proc/loadavg)
  for side in trunk full; do
    nice "$bench" "$model" "$n" "$samples" "$k" "$side" "$threads" >> "$results"
    echo "done: quarry-$side $model n=$n" >&2
  done
  nice "$PYTHON" "$here/reference.py" "$model" "$n" "$samples" "$k" "$threads" >> "$results"
  echo "done: reference $model n=$n (load $load-$(cut -d' ' -f1 /proc/loadavg))" >&2
done

"$PYTHON" - "$results" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
by = {}
for r in rows:
    by.setdefault((r["model"], r["n"]), {})[r["side"]] = r
print(f"{'case':<24} {'quarry (trunk once)':>20} {'quarry (S passes)':>20} {'reference':>20} "
      f"{'vs reference':>13} {'vs S passes':>12} {'same picks':>10}")
t = lambda r: f"{r['seconds']:.2f}s ({r['cpu_seconds']:.1f})"
for (model, n), s in by.items():
    q, f, ref = s["quarry-trunk"], s["quarry-full"], s["reference"]
    same = len(set(q["picks"]) & set(f["picks"]))
    print(f"{model + ' n=' + str(n) + ' S=' + str(q['samples']):<24} {t(q):>20} {t(f):>20} {t(ref):>20} "
          f"{ref['seconds'] / q['seconds']:>12.1f}x {f['seconds'] / q['seconds']:>11.1f}x {same:>6}/{len(q['picks'])}")
print("(wall seconds, CPU seconds in parentheses; same picks: Quarry's two paths, the same draws)")
PY
rm -f "$results"
