#!/usr/bin/env bash
# Fuzz a torch-free parser with libFuzzer + ASan + UBSan.
#   scripts/fuzz.sh idx|cifar|npy|pipeline|image SECONDS
# Builds tests/fuzz/fuzz_<target>.cpp (no LibTorch needed): idx, cifar and npy with the
# dataset parsers in plugins/datasets/formats/, pipeline with core/pipeline/*.cpp and
# the SDK's params.cpp (toml++ header-only), image with the image_folder plugin's decoder
# (plugins/datasets/image_folder/decode.cpp, TurboJPEG + libpng). Runs it on tests/fuzz/corpus/<target>/
# for SECONDS and copies any crashing input to tests/fuzz/regressions/<target>/,
# which the doctest suite replays from then on (tests/test_datasets.cpp for the
# dataset parsers, tests/test_hostile.cpp for pipelines).
set -euo pipefail

target=${1:?usage: scripts/fuzz.sh idx|cifar|npy|pipeline|image SECONDS}
seconds=${2:?usage: scripts/fuzz.sh idx|cifar|npy|pipeline|image SECONDS}
root=$(cd "$(dirname "$0")/.." && pwd)
case $target in
  idx | cifar | npy | pipeline | image) ;;
  *) echo "unknown fuzz target '$target' (expected idx, cifar, npy, pipeline or image)" >&2; exit 2 ;;
esac

out=${QUARRY_FUZZ_DIR:-$root/build-fuzz}
mkdir -p "$out/$target/corpus" "$out/$target/artifacts" "$root/tests/fuzz/regressions/$target"
bin=$out/fuzz_$target
CXX=${CXX:-clang++}
flags=(-std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I"$root/sdk/include")
if [ "$target" = pipeline ]; then
  # core/pipeline/ is torch-free (it sees plugins only through core/host/component_catalog.hpp).
  # toml++ is compiled in header-only here. Its debug assertions are turned off, as in the
  # library the program links (Debian's, built with NDEBUG): toml++ 3.3 asserts that a
  # table header starts with a key character (tests/fuzz/regressions/pipeline/crash-*)
  # although the very next lines report that case as a parse error. Defining TOML_ASSERT
  # (rather than NDEBUG) also keeps clang from turning those checks into __builtin_assume.
  "$CXX" "${flags[@]}" -DTOML_HEADER_ONLY=1 '-DTOML_ASSERT(expr)=((void)0)' -I"$root" \
    "$root/tests/fuzz/fuzz_pipeline.cpp" "$root"/core/pipeline/*.cpp "$root/core/util/files.cpp" "$root/sdk/src/params.cpp" -o "$bin"
elif [ "$target" = image ]; then
  "$CXX" "${flags[@]}" -I"$root/plugins/datasets" \
    "$root/tests/fuzz/fuzz_image.cpp" "$root/plugins/datasets/image_folder/decode.cpp" -lturbojpeg -lpng -o "$bin"
else
  "$CXX" "${flags[@]}" -I"$root/plugins/datasets" \
    "$root/tests/fuzz/fuzz_$target.cpp" "$root"/plugins/datasets/formats/*.cpp -lz -o "$bin"
fi

# New inputs go to the scratch corpus; the committed seeds are read-only inputs.
set +e
"$bin" "$out/$target/corpus" "$root/tests/fuzz/corpus/$target" \
  -max_total_time="$seconds" -max_len="${QUARRY_FUZZ_MAX_LEN:-65536}" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
  -artifact_prefix="$out/$target/artifacts/" 2>&1 | tee "$out/$target/last_run.log"
rc=${PIPESTATUS[0]}
set -e

found=0
for f in "$out/$target/artifacts"/*; do
  [ -f "$f" ] || continue
  cp "$f" "$root/tests/fuzz/regressions/$target/"
  echo "crashing input saved: tests/fuzz/regressions/$target/$(basename "$f")"
  found=1
done
grep -E '^stat::number_of_executed_units' "$out/$target/last_run.log" || true
if [ "$rc" -ne 0 ] || [ "$found" -ne 0 ]; then
  echo "fuzz $target: FAILED (exit $rc)" >&2
  exit 1
fi
echo "fuzz $target: no crash in ${seconds}s"
