#!/usr/bin/env bash
# The README's second command: the whole test suite, in a Release build and again in a Debug
# build under AddressSanitizer and UndefinedBehaviorSanitizer, with a short valgrind memcheck
# run of keyd and the provider, the provider tests again against OpenSSL 3.5, a clang build
# with its unit tests, the deployment tests
# (packages into a clean Debian root, the hardened service, podman), then a short run of each
# fuzz target (VHSM_FUZZ_SECONDS, default 60). Long runs: scripts/soak.sh, and
# scripts/build-matrix.sh full (every GCC build type). Needs root (network namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
for variant in release asan; do
  echo "=== $variant build"
  scripts/build.sh "$variant"
  dir=build; [ "$variant" = asan ] && dir=build-asan
  echo "=== $variant tests"
  ctest --test-dir "$dir" --output-on-failure -j 2 --timeout 600 "$@" || status=1
  if [ "$variant" = release ]; then
    echo "=== valgrind memcheck: keyd and the provider"
    scripts/valgrind.sh || status=1
  fi
done
echo "=== the provider on OpenSSL 3.5 (Debian 13's, built once and cached: scripts/openssl35.sh)"
scripts/test-openssl35.sh || status=1
echo "=== clang 14 build (scripts/build-matrix.sh; 'full' adds every GCC build type)"
scripts/build-matrix.sh quick || status=1
echo "=== deployment: Debian packages, the hardened service, containers (tests/deploy/)"
tests/deploy/run.sh build || status=1
echo "=== fuzzing: ${VHSM_FUZZ_SECONDS:-60} s per target"
scripts/fuzz.sh "${VHSM_FUZZ_SECONDS:-60}" || status=1
exit $status
