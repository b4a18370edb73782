#!/usr/bin/env bash
# The provider test suite against OpenSSL 3.5 (Debian 13's, built once by scripts/openssl35.sh
# and cached outside the checkout): vhsm, its tests and keyd built against it in build-openssl35/,
# the tests run with that OpenSSL's `openssl` binary and libraries. Extra arguments go to ctest.
# The tests of nginx, Python and curl as servers are left to the system build: those programs
# are Debian 12's, linked with its OpenSSL 3.0 (tests/CMakeLists.txt, [system-openssl]).
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=$(scripts/openssl35.sh)
echo "=== $("$prefix/bin/openssl" version) from $prefix"
cmake -S . -B build-openssl35 -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVHSM_WERROR=ON \
  -DVHSM_BENCH=OFF -DVHSM_OPENSSL_ROOT="$prefix" >/dev/null
cmake --build build-openssl35 -j "$(nproc)" --target provider_tests provider_guard_tests
ctest --test-dir build-openssl35 --output-on-failure -j 2 --timeout 600 -L provider "$@"
