#!/usr/bin/env bash
# Fresh Debian 12 -> Quarry's main job: installs what is missing, builds what the job runs
# (the quarry executable and the plugins; not the tests or benchmarks), and runs
# configs/quickstart.toml (random vs entropy on Fashion-MNIST, small CNN, CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
bash scripts/setup.sh
t1=$(date +%s)
# A new build folder is configured for a first build: -O2 without debug info (LibTorch's headers
# make that most of every object) and unity batches (QUARRY_UNITY, see the README). An existing one is
# built as it is configured.
fresh=()
[ -f build/CMakeCache.txt ] || fresh=(-DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_FLAGS_RELEASE=-O2 -DNDEBUG" -DQUARRY_UNITY=ON)
bash scripts/build.sh build --target quarry_app "${fresh[@]}"
t2=$(date +%s)
build/bin/quarry run configs/quickstart.toml "$@"
t3=$(date +%s)
echo "quickstart: set-up in $((t1 - t0)) s, built in $((t2 - t1)) s, ran in $((t3 - t2)) s ($((t3 - t0)) s in all)"
