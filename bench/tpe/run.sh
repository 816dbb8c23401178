#!/usr/bin/env bash
# Quarry's TPE and random search vs Optuna's TPESampler on standard test
# functions; prints a markdown table (see docs/hpo.md).
#   bash bench/tpe/run.sh [seeds] [trials]      (defaults: 30 seeds, 50 trials)
# Environment: BUILD (default build), PYTHON (default .venv/bin/python).
set -euo pipefail
cd "$(dirname "$0")/../.."
seeds=${1:-30}
trials=${2:-50}
build=${BUILD:-build}
python=${PYTHON:-.venv/bin/python}
ninja -C "$build" -j2 bench_tpe >/dev/null
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
nice "$build/bin/bench_tpe" --seeds "$seeds" --trials "$trials" >"$out/quarry.tsv"
nice "$python" bench/tpe/optuna_ref.py --seeds "$seeds" --trials "$trials" --univariate >"$out/optuna.tsv"
echo "$trials trials, $seeds seeds; best value found (all four functions are minimised)"
cat "$out/quarry.tsv" "$out/optuna.tsv" | "$python" bench/tpe/summarize.py
