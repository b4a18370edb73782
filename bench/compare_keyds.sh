#!/usr/bin/env bash
# Two vhsm-keyd binaries (say, before and after a change) in alternating blocks: HMAC-SHA1 64 B
# and keyInfo through the client library, each keyd on its own store, both pinned to CPU 0
# with the client. Prints the second over the first (mean latency: above 1 is slower).
#   bench/compare_keyds.sh OLD_KEYD NEW_KEYD [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: $0 OLD_KEYD NEW_KEYD [seconds]" >&2; exit 2; }
old=$(realpath "$1") new=$(realpath "$2") seconds=${3:-2}
source bench/common.sh  # starts this tree's keyd too; the two compared are started below
start_with() {  # start_with KEYD STORE SOCKET
  local host=()
  "$1" --help 2>&1 | grep -q -- --host-netns && host=(--host-netns /proc/self/ns/net)
  "$1" --init --store "$2" --log-level error <"$work/root.pw"
  taskset -c $keyd_cpu "$1" --store "$2" --socket "$3" --threads 2 --log-level warn "${host[@]}" &
  for _ in $(seq 100); do [ -S "$3" ] && break; sleep 0.05; done
  "$bin/vhsm-admin" --socket "$3" --password-file "$work/root.pw" user create bench \
    --new-password-file "$work/bench.pw" >/dev/null
  "$bin/vhsm-admin" --socket "$3" --user bench --password-file "$work/bench.pw" key import \
    bench-hmac --type hmac --hex 0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b >/dev/null
}
start_with "$old" "$work/old" "$work/old.sock"
start_with "$new" "$work/new" "$work/new.sock"
# The store-scale mode at 1 key compares its keyd with --small-store-socket's, block by block.
taskset -c $keyd_cpu "$bin/vhsm-bench-client" --socket "$work/new.sock" --user bench \
  --password bench-password --seconds "$seconds" --runs 3 --scale-keys 1 \
  --small-store-socket "$work/old.sock" | grep -E "alternating blocks"
