#!/usr/bin/env bash
# Fuzz one of the torch-free dataset parsers with libFuzzer + ASan + UBSan.
#   scripts/fuzz.sh idx|cifar SECONDS
# Builds tests/fuzz/fuzz_<target>.cpp with the parsers in plugins/datasets/formats/
# (no LibTorch needed), runs it on tests/fuzz/corpus/<target>/ for SECONDS, and
# copies any crashing input to tests/fuzz/regressions/<target>/, which the doctest
# suite (tests/test_datasets.cpp) replays from then on.
set -euo pipefail

target=${1:?usage: scripts/fuzz.sh idx|cifar SECONDS}
seconds=${2:?usage: scripts/fuzz.sh idx|cifar SECONDS}
root=$(cd "$(dirname "$0")/.." && pwd)
case $target in
  idx | cifar) ;;
  *) echo "unknown fuzz target '$target' (expected idx or cifar)" >&2; exit 2 ;;
esac

out=${QUARRY_FUZZ_DIR:-$root/build-fuzz}
mkdir -p "$out/$target/corpus" "$out/$target/artifacts" "$root/tests/fuzz/regressions/$target"
bin=$out/fuzz_$target
CXX=${CXX:-clang++}
"$CXX" -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I"$root/sdk/include" -I"$root/plugins/datasets" \
  "$root/tests/fuzz/fuzz_$target.cpp" "$root"/plugins/datasets/formats/*.cpp -lz -o "$bin"

# New inputs go to the scratch corpus; the committed seeds are read-only inputs.
set +e
"$bin" "$out/$target/corpus" "$root/tests/fuzz/corpus/$target" \
  -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
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
