#!/usr/bin/env bash
# Installs BUILD_DIR into a temporary prefix, builds main.cpp against it twice (CMake's
# find_package(vhsm), and pkg-config's vhsm-client with a bare g++), starts the installed keyd
# and runs both: each must print RFC 2202 case 1's HMAC-SHA1. Usage: run.sh BUILD_DIR
set -euo pipefail
build=$(realpath "$1")
here=$(dirname "$(realpath "$0")")
tmp=$(mktemp -d)
keyd_pid=
cleanup() {
  [ -n "$keyd_pid" ] && kill "$keyd_pid" 2>/dev/null && wait "$keyd_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
prefix=$tmp/prefix
cmake --install "$build" --prefix "$prefix" >/dev/null
# Only what was installed: no vhsm.capnp.h, no source folder.
test -f "$prefix/include/vhsm/client.hpp"
! find "$prefix/include" -name '*.capnp.h' | grep -q .

cmake -S "$here" -B "$tmp/cmake" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$tmp/cmake" >/dev/null
libdir=$(dirname "$(find "$prefix" -name 'libvhsm-client.so' | head -1)")
export PKG_CONFIG_PATH=$libdir/pkgconfig
g++ -std=c++20 "$here/main.cpp" $(pkg-config --cflags --libs vhsm-client) -o "$tmp/consumer-pc"

printf root-password | "$prefix/bin/vhsm-keyd" --init --store "$tmp/store" --kdf-iterations 1000
"$prefix/bin/vhsm-keyd" --store "$tmp/store" --socket "$tmp/keyd.sock" \
  --host-netns /proc/self/ns/net --log-level warn &
keyd_pid=$!
for _ in $(seq 100); do [ -S "$tmp/keyd.sock" ] && break; sleep 0.1; done
expected=b617318655057264e28bc0b6fb378c8ef146be00
got=$("$tmp/cmake/consumer" "$tmp/keyd.sock" root-password)
[ "$got" = "$expected" ] || { echo "find_package consumer printed '$got'"; exit 1; }
# The second run finds alice made: a fresh store for it.
kill "$keyd_pid"; wait "$keyd_pid" 2>/dev/null || true
rm -rf "$tmp/store" "$tmp/keyd.sock"
printf root-password | "$prefix/bin/vhsm-keyd" --init --store "$tmp/store" --kdf-iterations 1000
"$prefix/bin/vhsm-keyd" --store "$tmp/store" --socket "$tmp/keyd.sock" \
  --host-netns /proc/self/ns/net --log-level warn &
keyd_pid=$!
for _ in $(seq 100); do [ -S "$tmp/keyd.sock" ] && break; sleep 0.1; done
got=$(LD_LIBRARY_PATH=$libdir "$tmp/consumer-pc" "$tmp/keyd.sock" root-password)
[ "$got" = "$expected" ] || { echo "pkg-config consumer printed '$got'"; exit 1; }
echo "both consumers printed $expected"
