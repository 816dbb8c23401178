#!/usr/bin/env bash
# The CUDA checks, on a machine with an NVIDIA GPU and PyTorch installed (the version the
# bundle was built against). Run from the repository root with a bundle made by
# scripts/device-bundle.sh:
#   bash scripts/device-check.sh [BUNDLE]           (default device-bundle)
# 1. the test cases that need a GPU (selection on CUDA vs CPU, models on CUDA), then the
#    whole suite (Slurm tests skip without a cluster);
# 2. configs/device/cuda_smoke.toml: ResNet-18 with mixed precision, all four strategies;
# 3. the selection kernels timed on the GPU (if the bundle has bench_selection).
# Output (logs, the run's store and CSVs) goes to $OUT (the device tool's) or ./device-out.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bundle=$(cd "${1:-$root/device-bundle}" && pwd)
out=${OUT:-$root/device-out}
mkdir -p "$out"
python=${PYTHON:-python3}
torch_lib=$("$python" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))') || {
  echo "device-check: no PyTorch for $python (set PYTHON)" >&2; exit 1; }
export LD_LIBRARY_PATH=$torch_lib:${LD_LIBRARY_PATH:-}
export QUARRY_PLUGIN_PATH=
status=0
step() { echo; echo "== $(date +%T) $*"; }

step "GPU"
nvidia-smi -L || status=1
"$python" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0))'

step "tests that need a GPU"
"$bundle/bin/quarry_tests" -tc="*CUDA*,*cuda*" -s 2>&1 | tee "$out/tests-cuda.log" | tail -n 30 || status=1

step "the whole suite"
"$bundle/bin/quarry_tests" 2>&1 | tee "$out/tests-all.log" | tail -n 15
[ "${PIPESTATUS[0]}" = 0 ] || status=1

step "CUDA pipeline: configs/device/cuda_smoke.toml"
/usr/bin/time -v "$bundle/bin/quarry" run "$root/configs/device/cuda_smoke.toml" --set run.results="$out/cuda-smoke" \
  > "$out/cuda-smoke.log" 2>&1 || status=1
tail -n 25 "$out/cuda-smoke.log"
"$bundle/bin/quarry" runs --results "$out/cuda-smoke" 2>&1 | tail -n 8
"$bundle/bin/quarry" export --results "$out/cuda-smoke" > /dev/null 2>&1 || true

if [ -x "$bundle/bin/bench_selection" ]; then
  step "selection kernels on the GPU (k = 100, L = 4,000, D = 512)"
  data=$out/selection-data
  mkdir -p "$data"
  "$bundle/bin/bench_selection" gen "$data"
  for spec in "coreset 10000 0" "coreset 45000 0" "badge 10000 10" "badge 45000 10" "badge 45000 100"; do
    set -- $spec
    printf '%-8s n=%-6s C=%-4s ' "$1" "$2" "$3"
    QUARRY_BENCH_DEVICE=cuda "$bundle/bin/bench_selection" time "$data" "$1" "$2" "$3" 100 | cut -c1-60 || status=1
  done
  rm -rf "$data"
fi

step "done: exit status $status (logs in $out)"
exit $status
