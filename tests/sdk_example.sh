#!/usr/bin/env bash
# The out-of-tree plugin example, end to end: install Quarry (SDK, host, plugins)
# to a prefix, build sdk/examples/power_entropy as a separate CMake project
# against the installed package, and run a pipeline with it through the
# installed host. Nothing of core is rebuilt.
#   tests/sdk_example.sh BUILD_DIR TORCH_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
torch_dir=$2
src=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cmake --install "$build" --prefix "$work/prefix" >/dev/null
cmake -S "$src/sdk/examples/power_entropy" -B "$work/example" -DCMAKE_PREFIX_PATH="$work/prefix" \
  -DTorch_DIR="$torch_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$work/example" >/dev/null

quarry="$work/prefix/bin/quarry"
listing=$("$quarry" --plugin-path "$work/example" plugins)
echo "$listing" | grep -q "power_entropy" || { echo "FAIL: power_entropy not listed"; echo "$listing"; exit 1; }
echo "$listing" | grep -q "small_cnn" || { echo "FAIL: installed plugins not found next to the installed host"; exit 1; }

cat > "$work/pipeline.toml" <<TOML
[run]
seeds = [1]
device = "cpu"
threads = 1
results = "$work/runs"
plugin_paths = ["$work/example"]
[dataset]
name = "synthetic"
train_size = 300
test_size = 60
[model]
name = "small_cnn"
width = 8
feature_dim = 16
[train]
epochs = 2
batch_size = 16
warmup_epochs = 0
[al]
initial = 10
query_size = 10
budget = 30
candidate_subset = 100
[[strategies]]
name = "power_entropy"
beta = 2.0
TOML
"$quarry" run "$work/pipeline.toml" >"$work/out.txt" 2>&1 || { cat "$work/out.txt"; exit 1; }
grep -q "power_entropy" "$work/out.txt" || { echo "FAIL: no learning curve for power_entropy"; cat "$work/out.txt"; exit 1; }
echo "sdk example: built out of tree, loaded and ran 3 cycles"
