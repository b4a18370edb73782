#!/usr/bin/env bash
# Builds the Debian packages (packaging/CMakeLists.txt) into build-package/: a Release build
# installed under /usr, without tests or benchmarks. Prints the packages' paths.
# Usage: scripts/package.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(realpath -m "${1:-build-package}")
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
  -DBUILD_TESTING=OFF -DVHSM_BENCH=OFF -DVHSM_WERROR="${VHSM_WERROR:-ON}" >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
rm -f "$build"/*.deb
(cd "$build" && cpack -G DEB >cpack.log 2>&1) || { cat "$build/cpack.log" >&2; exit 1; }
ls "$build"/*.deb
