#!/usr/bin/env bash
# PKCS#11 modules side by side, one program (vhsm-bench-pkcs11): vhsm's module, SoftHSM2
# behind `p11-kit server` (keys in another process over a Unix socket: vhsm's own isolation
# class) and SoftHSM2 in-process, plus vhsm's client library on the same keys in alternating
# blocks. keyd, the p11-kit server and the bench all on CPU 0.
#   bench/pkcs11.sh [seconds-per-run] [runs]     (default 0.2 s × 10)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-0.2} runs=${2:-10}
[ -x "${VHSM_BUILD_DIR:-build}/bin/vhsm-bench-pkcs11" ] || scripts/build.sh release >/dev/null
source bench/common.sh
softhsm=/usr/lib/softhsm/libsofthsm2.so
client_module=/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so
token() {  # token DIR LABEL: a SoftHSM2 configuration with one initialized token
  mkdir -p "$1/tokens"
  printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
    "$1/tokens" >"$1/softhsm2.conf"
  SOFTHSM2_CONF=$1/softhsm2.conf softhsm2-util --init-token --free --label "$2" --so-pin 1234 \
    --pin 1234 >/dev/null
}
token "$work/peer" peer
token "$work/local" local
SOFTHSM2_CONF=$work/peer/softhsm2.conf taskset -c $keyd_cpu \
  p11-kit server -f -n "$work/p11.sock" -p "$softhsm" "pkcs11:token=peer" >/dev/null &
peer=$!
trap 'kill $peer 2>/dev/null; cleanup' EXIT
for _ in $(seq 100); do [ -S "$work/p11.sock" ] && break; sleep 0.05; done
echo "keyd, p11-kit server and the bench on CPU $keyd_cpu; median of $runs interleaved runs of"
echo "$seconds s; each operation is its C_*Init and one-shot call."
echo
VHSM_SOCKET=$work/keyd.sock VHSM_USER=bench SOFTHSM2_CONF=$work/local/softhsm2.conf \
  P11_KIT_SERVER_ADDRESS=unix:path=$work/p11.sock taskset -c $keyd_cpu \
  "$bin/vhsm-bench-pkcs11" --seconds "$seconds" --runs "$runs" \
  --module "vhsm=$build/lib/libvhsm-pkcs11.so=bench-password" \
  --module "SoftHSM2 via p11-kit server=$client_module=1234" \
  --module "SoftHSM2 in-process=$softhsm=1234" \
  --client-socket "$work/keyd.sock" --client-user bench --client-password bench-password
