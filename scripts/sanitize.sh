#!/usr/bin/env bash
# The whole test suite under AddressSanitizer + UndefinedBehaviorSanitizer.
#   scripts/sanitize.sh [ctest args...]      e.g. scripts/sanitize.sh -R test_loop
# Configures build-asan (QUARRY_SANITIZE=address,undefined, benchmarks off), builds
# quarry, quarry_tests and the plugins, and runs ctest. Any sanitizer report fails
# the test that triggered it: UBSan halts on the first error, ASan always does.
# Debian's LibTorch is not instrumented; ASan does not need it to be. The only
# suppressions are for third-party code, one comment per entry, in
# tests/sanitizers/ (never for Quarry's own code).
#   JOBS=N       parallel compile jobs (default 2)
#   BUILD_DIR=D  build folder (default build-asan)
#   QUARRY_UNITY=OFF  compile every source on its own (default ON: unity batches, a faster cold build)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build-asan}
jobs=${JOBS:-2}
t0=$(date +%s)

# -O1 -g1 (line tables): what ASan recommends, and half the compile time of -O2 -g against
# LibTorch's headers (core/trainer.cpp: 17 s vs 33 s here).
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
  -DQUARRY_SANITIZE=address,undefined -DQUARRY_BUILD_BENCH=OFF -DQUARRY_UNITY="${QUARRY_UNITY:-ON}" >/dev/null
ninja -C "$build" -j"$jobs" quarry quarry_tests
t1=$(date +%s)

supp=$root/tests/sanitizers
# detect_leaks=0 is not used: leaks are checked, with LibTorch's and glog's
# process-lifetime allocations suppressed in lsan.supp.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_stack_use_after_return=0:strict_string_checks=1:check_initialization_order=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$supp/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-suppressions=$supp/ubsan.supp:print_stacktrace=1:halt_on_error=1}
status=0
(cd "$build" && ctest --output-on-failure "$@") || status=$?
t2=$(date +%s)
echo "sanitize: build $((t1 - t0))s, tests $((t2 - t1))s, total $((t2 - t0))s (JOBS=$jobs)"
exit $status
