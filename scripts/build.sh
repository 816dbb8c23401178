#!/usr/bin/env bash
# Configure and build Quarry.
#   scripts/build.sh [BUILD_DIR] [extra cmake args...]
#   scripts/build.sh build-torch2 -DTorch_DIR=$PWD/.venv/lib/python3.11/site-packages/torch/share/cmake/Torch
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true
# ccache shares objects between build folders and clones of this repo.
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
if [ ! -f "$dir/CMakeCache.txt" ]; then
  cmake -S . -B "$dir" "${gen[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
elif [ $# -gt 0 ]; then
  cmake -S . -B "$dir" "$@"
fi
cmake --build "$dir" -j "$(nproc)"
