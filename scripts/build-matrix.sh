#!/usr/bin/env bash
# Builds beyond the test command's two (scripts/test.sh: GCC RelWithDebInfo and GCC Debug with
# sanitizers, both with warnings as errors):
#   scripts/build-matrix.sh quick   clang 14, Release, warnings as errors; unit tests (CI runs this)
#   scripts/build-matrix.sh full    quick, then GCC 12 in every other common build type: Release,
#                                   Debug, MinSizeRel, and Debian's "None" with dpkg-buildflags'
#                                   flags and without -Werror, as a packager builds; each runs the
#                                   unit, integration and provider tests (about 20 minutes here)
# Build trees: build-matrix-<name>/ (ignored by git).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-quick}
jobs=$(nproc)
status=0

# name, then cmake arguments
run() {
  local name=$1 labels=$2
  shift 2
  local dir=build-matrix-$name
  echo "=== build matrix: $name"
  cmake -S . -B "$dir" "$@" >/dev/null
  if ! cmake --build "$dir" -j "$jobs" >"$dir/build.log" 2>&1; then
    tail -40 "$dir/build.log"
    echo "=== $name: build FAILED"
    status=1
    return
  fi
  # Warnings are errors only with VHSM_WERROR; a packager's build is told of them all the same.
  grep -E "warning:" "$dir/build.log" | sort -u | head -20 || true
  ctest --test-dir "$dir" -L "$labels" -j 2 --timeout 600 --output-on-failure || status=1
}

case "$mode" in
  quick | full) ;;
  *) echo "usage: $0 [quick|full]" >&2; exit 2 ;;
esac

CC=clang CXX=clang++ run clang-release unit -DCMAKE_BUILD_TYPE=Release -DVHSM_WERROR=ON
if [ "$mode" = full ]; then
  for type in Release Debug MinSizeRel; do
    run "gcc-$(tr A-Z a-z <<<"$type")" "unit|integration|provider" -DCMAKE_BUILD_TYPE=$type \
      -DVHSM_WERROR=ON
  done
  # What debhelper's cmake build passes (dh_auto_configure): build type None, Debian's flags.
  export DEB_BUILD_MAINT_OPTIONS=hardening=+all
  run gcc-debian-none "unit|integration|provider" -DCMAKE_BUILD_TYPE=None \
    -DCMAKE_C_FLAGS="$(dpkg-buildflags --get CFLAGS) $(dpkg-buildflags --get CPPFLAGS)" \
    -DCMAKE_CXX_FLAGS="$(dpkg-buildflags --get CXXFLAGS) $(dpkg-buildflags --get CPPFLAGS)" \
    -DCMAKE_EXE_LINKER_FLAGS="$(dpkg-buildflags --get LDFLAGS)" \
    -DCMAKE_SHARED_LINKER_FLAGS="$(dpkg-buildflags --get LDFLAGS)" \
    -DCMAKE_MODULE_LINKER_FLAGS="$(dpkg-buildflags --get LDFLAGS)"
fi
exit $status
