#!/usr/bin/env bash
# Fused trials against the same trainings one after another, in one run (bench_hpo_fused):
#  1. this machine's float32 matrix-product peak (torch::mm, 2048^3, best of 5);
#  2. K = 50 linear heads, 200 epochs at batch 64 on 4,000 x 384 embeddings (10 classes):
#     fused on one input stream (a search's trials on one split share their batches) and
#     fused with every head on batches of its own, against 50 train_model calls;
#  3. K = 8 small_cnn trainings (width 32, 3 x 32 x 32 images, batch 32, augmentation),
#     fused vs separate, with the fused run's FLOP/s against the peak.
# Prints times, ratios and the largest weight difference fused vs unfused.
#   bench/hpo_fused/run.sh [BUILD_DIR]      (THREADS, HEADS, HEAD_EPOCHS, CNNS, CNN_EPOCHS: env; 0 skips a case)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/../common.sh"
build=${1:-$root/build}
bench=$build/bin/bench_hpo_fused
[ -x "$bench" ] || { echo "run.sh: $bench not built (ninja -C $build bench_hpo_fused)" >&2; exit 1; }
threads=${THREADS:-2}
bench_threads "$threads"
nice "$bench" "$threads" "${HEADS:-50}" "${HEAD_EPOCHS:-200}" "${CNNS:-8}" "${CNN_EPOCHS:-2}"
