#!/usr/bin/env bash
# Fresh Debian 12 -> every test: installs what is missing (Debian packages and the
# pinned LibTorch 2.x wheel), builds Quarry against both LibTorch builds (Debian's
# 1.13 CPU and PyPI's 2.x with CUDA: its tests run on the CPU), starts a
# single-node Slurm for the sweep tests, and runs every test of both builds, then the
# Debian build's suite once more under ASan + UBSan (scripts/sanitize.sh).
# .ci/run calls this.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
stamp() { echo "== [$(( $(date +%s) - start ))s] $*"; }

stamp "set-up"
bash scripts/setup.sh --ci
torch2_dir=$(.venv/bin/python -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "share/cmake/Torch"))')

export QUARRY_REQUIRE_SLURM=1
if [ -x scripts/slurm-up.sh ]; then
  stamp "starting a single-node Slurm"
  bash scripts/slurm-up.sh
fi

# Every build here is cold on a fresh machine, so all three use unity batches (QUARRY_UNITY=ON:
# about a third of the CPU time of compiling each source on its own). Day-to-day builds
# (scripts/build.sh without it) still compile every source on its own, which keeps each source's
# includes honest. QUARRY_CI_UNITY=OFF gives that build here too.
unity=${QUARRY_CI_UNITY:-ON}
stamp "build 1/2: Debian LibTorch 1.13 (CPU)"
bash scripts/build.sh build -DQUARRY_UNITY="$unity"
stamp "tests, LibTorch 1.13"
ctest --test-dir build --output-on-failure -j 1

stamp "build 2/2: PyPI LibTorch 2.x with CUDA ($torch2_dir)"
bash scripts/build.sh build-torch2 -DTorch_DIR="$torch2_dir" -DQUARRY_BUILD_BENCH=OFF -DQUARRY_UNITY="$unity"
stamp "tests, LibTorch 2.x (CPU)"
ctest --test-dir build-torch2 --output-on-failure -j 1

# The whole suite again under AddressSanitizer + UndefinedBehaviorSanitizer (Debian
# LibTorch; ~12 min cold on 2 cores, tests ~3 min). QUARRY_SKIP_SANITIZE=1 leaves it out
# of a local run; CI always runs it.
if [ "${QUARRY_SKIP_SANITIZE:-0}" = 1 ]; then
  stamp "sanitizer build skipped (QUARRY_SKIP_SANITIZE=1)"
else
  stamp "AddressSanitizer + UndefinedBehaviorSanitizer build and tests"
  bash scripts/sanitize.sh
fi
stamp "all tests passed"
