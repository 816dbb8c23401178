#!/usr/bin/env bash
# Fresh Debian 12 -> Quarry's main job: installs what is missing, builds, and runs
# configs/quickstart.toml (random vs entropy on Fashion-MNIST, small CNN, CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh build
exec build/bin/quarry run configs/quickstart.toml "$@"
