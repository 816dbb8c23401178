#!/usr/bin/env bash
# Pack what a GPU machine needs to run Quarry's tests and CUDA checks into a small folder
# (debug info stripped; the `device` tool carries at most 64 MiB), from a build made here
# against PyPI's torch of the version the GPU machine has:
#   bash scripts/build.sh build-torch2 -DTorch_DIR=$PWD/.venv/lib/python3.11/site-packages/torch/share/cmake/Torch
#   ninja -C build-torch2 bench_selection          (optional: the selection timings on the GPU)
#   bash scripts/device-bundle.sh [BUILD_DIR] [OUT]   (default build-torch2 -> device-bundle)
# Then carry OUT and run scripts/device-check.sh OUT there. Build-tree binaries find
# libquarry_sdk ($ORIGIN rpath) and their plugins (next to CMakeCache.txt) relative to
# themselves, and the tests find the sources from the bundle's parent folder.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-torch2}
out=${2:-$root/device-bundle}
[ -x "$build/bin/quarry_tests" ] || { echo "device-bundle: $build/bin/quarry_tests not built" >&2; exit 1; }
rm -rf "$out"
mkdir -p "$out/bin" "$out/lib" "$out/plugins" "$out/tests/test_plugins"
cp "$build/CMakeCache.txt" "$out/"
copy() {  # FILE DEST_DIR: a stripped copy
  cp "$1" "$2/" && strip --strip-debug "$2/$(basename "$1")"
}
for b in quarry quarry_tests bench_selection; do
  [ -x "$build/bin/$b" ] && copy "$build/bin/$b" "$out/bin"
done
for f in "$build"/lib/libquarry_sdk.so*; do
  if [ -L "$f" ]; then cp -P "$f" "$out/lib/"; else copy "$f" "$out/lib"; fi
done
for f in "$build"/plugins/*.so; do copy "$f" "$out/plugins"; done
for f in "$build"/tests/test_plugins/*.so; do copy "$f" "$out/tests/test_plugins"; done
du -sh "$out"
