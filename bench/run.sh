#!/usr/bin/env bash
# Quick client-library benchmark: keyd on a temporary store, pinned; the client pinned to the
# same CPU ("same") or the other one ("cross"). Usage: bench/run.sh [same|cross] [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
placement=${1:-same}
seconds=${2:-2}
bin=${VHSM_BUILD_DIR:-$PWD/build}/bin
work=$(mktemp -d)
trap 'kill $keyd 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
printf 'root-pw\n' | "$bin/vhsm-keyd" --init --store "$work/store" --log-level error
keyd_cpu=0
client_cpu=0
[ "$placement" = cross ] && client_cpu=1
taskset -c $keyd_cpu "$bin/vhsm-keyd" --store "$work/store" --socket "$work/keyd.sock" \
  --threads 2 --log-level warn &
keyd=$!
for _ in $(seq 100); do [ -S "$work/keyd.sock" ] && break; sleep 0.05; done
printf 'root-pw\n' >"$work/root.pw"
printf 'bench-password\n' >"$work/bench.pw"
"$bin/vhsm-admin" --socket "$work/keyd.sock" --password-file "$work/root.pw" user create bench \
  --new-password-file "$work/bench.pw" >/dev/null
cat >"$work/openssl.cnf" <<CNF
openssl_conf = openssl_init
[openssl_init]
providers = provider_sect
[provider_sect]
default = default_sect
vhsm = vhsm_sect
[default_sect]
activate = 1
[vhsm_sect]
module = ${VHSM_BUILD_DIR:-$PWD/build}/lib/ossl-modules/vhsm.so
activate = 1
socket = $work/keyd.sock
user = bench
password-file = $work/bench.pw
CNF
echo "placement: keyd on CPU $keyd_cpu, client on CPU $client_cpu"
taskset -c $client_cpu "$bin/vhsm-bench-client" --socket "$work/keyd.sock" --seconds "$seconds" \
  --raw-server-cpu $keyd_cpu --provider-config "$work/openssl.cnf"
echo "keyd RSS: $(awk '/VmRSS/ {print $2, $3}' /proc/$keyd/status)"
