# Sourced by the benchmarks' run.sh scripts: the Python whose torch matches a build's LibTorch,
# and the thread settings both sides of a benchmark run under.
bench_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# bench_python BUILD_DIR: $PYTHON when set; else the .venv's Python for a build against the PyPI
# wheel (LibTorch 2.x), Debian's for Debian's LibTorch 1.13.
bench_python() {
  if [ -n "${PYTHON:-}" ]; then echo "$PYTHON"; return; fi
  # -DTorch_DIR=... on the command line is cached as Torch_DIR:UNINITIALIZED, else :PATH.
  case $(grep -o '^Torch_DIR:[A-Z]*=.*' "$1/CMakeCache.txt" || true) in
    *.venv*) echo "$bench_root/.venv/bin/python" ;;
    *) echo /usr/bin/python3 ;;
  esac
}

# bench_threads N: N threads for OpenMP, MKL and OpenBLAS; passive OpenMP waits (these machines
# are shared, see bench/selection/run.sh); and, as Debian's OpenBLAS does not recognise this VM's
# CPU model, the core it is (AVX-512).
bench_threads() {
  export OMP_NUM_THREADS=$1 MKL_NUM_THREADS=$1 OPENBLAS_NUM_THREADS=$1
  export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
  if grep -q avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-SkylakeX}; fi
}
