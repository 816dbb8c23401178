#!/usr/bin/env bash
# Installs everything Quarry needs on Debian 12. Idempotent: installs only what is missing.
#   scripts/setup.sh            Debian packages (LibTorch 1.13 CPU and the rest)
#   scripts/setup.sh --torch2   also the pinned LibTorch 2.x (+CUDA) from PyPI's torch wheel into .venv
#   scripts/setup.sh --ci       everything the full test suite needs (implies --torch2)
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH2_VERSION="${QUARRY_TORCH2_VERSION:-2.11.0}"
want_torch2=0; want_ci=0
for a in "$@"; do
  case "$a" in
    --torch2) want_torch2=1 ;;
    --ci) want_ci=1; want_torch2=1 ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option '$a' (see --help)" >&2; exit 2 ;;
  esac
done

pkgs=(build-essential cmake ninja-build ccache pkg-config git
      libtorch-dev libboost-dev libtomlplusplus-dev libspdlog-dev libfmt-dev doctest-dev
      libcli11-dev nlohmann-json3-dev libsqlite3-dev sqlite3 libopenblas0-pthread zlib1g-dev
      libturbojpeg0-dev libpng-dev dataset-fashion-mnist python3 librsvg2-bin)
if [ "$want_torch2" = 1 ]; then
  pkgs+=(python3-venv)
fi
if [ "$want_ci" = 1 ]; then
  # python3-torch: bench/training's reference at the LibTorch 1.13 version, and tests/test_backbone.cpp's
  # exporter; python3-pil: tests/test_image_folder.cpp's images; python3-scipy: tests/test_significance.cpp;
  # python3-sklearn: bench/strategies' references call scikit-learn's KMeans and NearestNeighbors
  pkgs+=(python3-numpy python3-pil python3-scipy clang libclang-rt-14-dev slurm-wlm munge chromium fonts-dejavu-core
        python3-torch python3-sklearn)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Debian's LibTorch multiplies matrices through whatever libblas.so.3 is selected; make it OpenBLAS.
if command -v update-alternatives >/dev/null; then
  ob=$(update-alternatives --list libblas.so.3-x86_64-linux-gnu 2>/dev/null | grep openblas | head -n1 || true)
  [ -n "$ob" ] && update-alternatives --set libblas.so.3-x86_64-linux-gnu "$ob" >/dev/null 2>&1 || true
  ol=$(update-alternatives --list liblapack.so.3-x86_64-linux-gnu 2>/dev/null | grep openblas | head -n1 || true)
  [ -n "$ol" ] && update-alternatives --set liblapack.so.3-x86_64-linux-gnu "$ol" >/dev/null 2>&1 || true
fi

if [ "$want_torch2" = 1 ]; then
  if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
  if ! .venv/bin/python -c "import torch,sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH2_VERSION')" 2>/dev/null; then
    echo "setup: installing torch==$TORCH2_VERSION (LibTorch 2.x with CUDA) into .venv"
    .venv/bin/pip install -q "torch==$TORCH2_VERSION" "numpy==2.3.5"
  fi
  if [ "$want_ci" = 1 ]; then
    .venv/bin/python -c "import optuna" 2>/dev/null || .venv/bin/pip install -q "optuna==5.0.0"
  fi
fi
echo "setup: ok"
