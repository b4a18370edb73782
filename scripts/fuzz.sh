#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) in build-fuzz and runs each for
# SECONDS (default 60) from its checked-in corpus (tests/fuzz/corpus/TARGET). New inputs go to
# a scratch directory, so the checked-in corpus changes only by hand (see tests/fuzz/README.md);
# a crash fails the script and leaves its input in build-fuzz/crashes/.
# Usage: scripts/fuzz.sh [seconds] [target...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(fuzz_frame fuzz_service fuzz_key_uri fuzz_pkcs11)
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DVHSM_FUZZ=ON -DVHSM_WERROR=ON \
  >/dev/null
cmake --build build-fuzz -j "$(nproc)" --target "${targets[@]}"
mkdir -p build-fuzz/crashes
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
for target in "${targets[@]}"; do
  corpus=tests/fuzz/corpus/${target#fuzz_}
  scratch=$(mktemp -d)
  echo "=== $target: ${seconds} s from $corpus"
  if ! build-fuzz/bin/$target -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 \
    -artifact_prefix=build-fuzz/crashes/$target- -print_final_stats=1 "$scratch" "$corpus" \
    2>&1 | tee "build-fuzz/$target.log" | grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|==[0-9]+==ERROR|SUMMARY)"; then
    :
  fi
  if grep -qE "ERROR: (libFuzzer|AddressSanitizer|UndefinedBehaviorSanitizer)|runtime error|deadly signal" "build-fuzz/$target.log"; then
    echo "$target: FAILED (see build-fuzz/$target.log, input in build-fuzz/crashes/)"
    status=1
  fi
  rm -rf "$scratch"
done
exit $status
