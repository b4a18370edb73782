#!/usr/bin/env bash
# Configures and builds one variant: scripts/build.sh [release|asan]  (default release)
set -euo pipefail
cd "$(dirname "$0")/.."
variant=${1:-release}
case "$variant" in
  release) dir=build; flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DVHSM_WERROR=ON) ;;
  asan) dir=build-asan; flags=(-DCMAKE_BUILD_TYPE=Debug -DVHSM_SANITIZE=ON -DVHSM_WERROR=ON) ;;
  *) echo "usage: $0 [release|asan]" >&2; exit 2 ;;
esac
cmake -S . -B "$dir" "${flags[@]}" >/dev/null
cmake --build "$dir" -j "$(nproc)"
