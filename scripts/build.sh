#!/usr/bin/env bash
# Configure and build Quarry.
#   scripts/build.sh [BUILD_DIR] [--target TARGET] [extra cmake args...]
#   scripts/build.sh build-torch2 -DTorch_DIR=$PWD/.venv/lib/python3.11/site-packages/torch/share/cmake/Torch
#   scripts/build.sh build --target quarry_app     only the quarry executable and the plugins
#   scripts/build.sh build -DQUARRY_UNITY=ON         unity batches: a cold build in about a third of the CPU
#                                                    time; an edit recompiles its batch (off by default)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true
targets=()
cmake_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --target) targets+=(--target "$2"); shift 2 ;;
    *) cmake_args+=("$1"); shift ;;
  esac
done
# ccache shares objects between build folders and clones of this repo.
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
if [ ! -f "$dir/CMakeCache.txt" ]; then
  cmake -S . -B "$dir" "${gen[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${cmake_args[@]}"
elif [ ${#cmake_args[@]} -gt 0 ]; then
  cmake -S . -B "$dir" "${cmake_args[@]}"
fi
cmake --build "$dir" -j "$(nproc)" "${targets[@]}"
