#!/usr/bin/env bash
# Multi-fidelity search on a cheap pool (a linear head on Fashion-MNIST's 64 principal
# components, bench/hpo/pool.toml): plain 50-trial TPE vs TPE + ASHA vs TPE + Hyperband over
# several seeds, and the evidence for how rungs are measured (docs/hpo.md, "Multi-fidelity search").
#   bench/hpo/run.sh [BUILD_DIR]
# Environment: SEEDS (default "1 2 3 4 5"), POOL (labels, default 1000), CONFIGS (random settings
# for the rung evidence, default 30; 0 skips it), WHAT ("rungs search"), THREADS (default 1),
# PRUNERS (default "none asha hyperband"), ETA (hpo.reduction_factor, default 3).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
data=/tmp/quarry-bench-hpo-pool
seeds=${SEEDS:-1 2 3 4 5} pool=${POOL:-1000} configs=${CONFIGS:-30} what=${WHAT:-rungs search}
threads=${THREADS:-1}
bench=$build/bin/bench_hpo
[ -x "$bench" ] || { echo "run.sh: $bench not built (ninja -C $build bench_hpo)" >&2; exit 1; }
export OMP_NUM_THREADS=$threads MKL_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
[ -f "$data/train_features.npy" ] || /usr/bin/python3 "$here/make_pool.py" "$data"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
set_args=(--set "dataset.path=$data" --set "run.threads=$threads" --set "hpo.reduction_factor=${ETA:-3}")
if [[ " $what " == *" rungs "* && $configs -gt 0 ]]; then
  for s in $seeds; do
    nice "$bench" rungs "$here/pool.toml" "$pool" "$s" "$configs" "${set_args[@]}" >> "$out/rungs.jsonl"
    echo "done: rung evidence, seed $s" >&2
  done
fi
if [[ " $what " == *" search "* ]]; then
  for s in $seeds; do
    for pruner in ${PRUNERS:-none asha hyperband}; do
      nice "$bench" search "$here/pool.toml" "$pool" "$s" "$pruner" "${set_args[@]}" >> "$out/search.jsonl"
      echo "done: seed $s, $pruner ($(tail -1 "$out/search.jsonl" | cut -c1-120))" >&2
    done
  done
fi
/usr/bin/python3 "$here/summarize.py" "$out" "$pool"
