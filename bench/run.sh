#!/usr/bin/env bash
# Quick benchmark: keyd on a temporary store, pinned to CPU 0; the client pinned to the same
# CPU ("same") or the other one ("cross"). Symmetric operations (vhsm-bench-client), then
# signatures (vhsm-bench-sign). Usage: bench/run.sh [same|cross] [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
placement=${1:-same}
seconds=${2:-2}
source bench/common.sh
client_cpu=0
[ "$placement" = cross ] && client_cpu=1
echo "placement: keyd on CPU $keyd_cpu, client on CPU $client_cpu"
taskset -c $client_cpu "$bin/vhsm-bench-client" --socket "$work/keyd.sock" --seconds "$seconds" \
  --raw-server-cpu $keyd_cpu --provider-config "$cnf"
echo
taskset -c $client_cpu "$bin/vhsm-bench-sign" --socket "$work/keyd.sock" --seconds "$seconds" \
  --provider-config "$cnf"
echo "keyd RSS: $(awk '/VmRSS/ {print $2, $3}' /proc/$keyd/status)"
