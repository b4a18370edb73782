#!/usr/bin/env bash
# The long runs, outside the test command: the hostile-neighbour flood, random SIGKILLs and the
# mixed load for minutes instead of seconds (under the ASan build, so leaks and memory errors
# show), then each fuzz target for longer. Usage: scripts/soak.sh [minutes-per-part]
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-5}
scripts/build.sh asan
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export VHSM_FLOOD_SECONDS=$((minutes * 60))
export VHSM_LOAD_SECONDS=$((minutes * 60))
export VHSM_CRASH_ROUNDS=$((minutes * 40))
ctest --test-dir build-asan --output-on-failure -V --timeout $((minutes * 240 + 600)) \
  -R "flooding neighbour|SIGKILL at random|processes × threads"
scripts/fuzz.sh $((minutes * 60))
