#!/usr/bin/env bash
# The demo: vhsm-keyd on a store and socket under build/demo, a user with keys made through
# vhsm-admin, an HMAC-SHA1 and an AES-256-GCM round trip computed inside keyd, the same HMAC
# through the unmodified openssl binary and the vhsm provider, then keyd stops.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${VHSM_BUILD_DIR:-$PWD/build}
bin=$build/bin
demo=$build/demo
rm -rf "$demo"
mkdir -p "$demo"
export VHSM_SOCKET=$demo/keyd.sock
printf 'demo-root-password\n' >"$demo/root.pw"
printf 'demo-alice-password\n' >"$demo/alice.pw"
chmod 600 "$demo"/*.pw

echo "== vhsm-admin init (PBKDF2-HMAC-SHA256, 600000 iterations)"
"$bin/vhsm-admin" init --store "$demo/store" --password-file "$demo/root.pw"

echo "== vhsm-keyd --store $demo/store --socket $VHSM_SOCKET"
# The demo runs in the host's namespace; naming it works also where pid 1's is hidden.
"$bin/vhsm-keyd" --store "$demo/store" --socket "$VHSM_SOCKET" --log-level warn \
  --host-netns /proc/self/ns/net &
keyd=$!
trap 'kill $keyd 2>/dev/null; wait $keyd 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -S "$VHSM_SOCKET" ] && break; sleep 0.05; done

root=("$bin/vhsm-admin" --password-file "$demo/root.pw")
alice=("$bin/vhsm-admin" --user alice --password-file "$demo/alice.pw")
echo "== create user alice (bound to the host) and her keys"
"${root[@]}" user create alice --flags read,create,delete --container host \
  --new-password-file "$demo/alice.pw"
"${alice[@]}" key import hmac1 --type hmac --hex 0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b
"${alice[@]}" key generate aes1 --type aes --bits 256
"${alice[@]}" key list

echo "== HMAC-SHA1 and AES-256-GCM inside keyd"
VHSM_PASSWORD=demo-alice-password "$bin/vhsm-demo" --user alice --hmac-key hmac1 --aes-key aes1

echo "== the same HMAC through the unmodified openssl binary, no openssl.cnf needed"
printf 'Hi There' >"$demo/message"
# Sanitizer builds (tests only) preload their runtimes into the uninstrumented openssl.
run_openssl() {
  local env=(OPENSSL_CONF=/dev/null VHSM_USER=alice VHSM_PASSWORD_FILE="$demo/alice.pw")
  [ -n "${VHSM_OPENSSL_PRELOAD:-}" ] &&
    env+=(LD_PRELOAD="$VHSM_OPENSSL_PRELOAD" ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0)
  env "${env[@]}" openssl "$@" -provider-path "$build/lib/ossl-modules" -provider vhsm \
    -provider default "$demo/message"
}
# RFC 2202 test case 1: the key is 20 bytes of 0x0b, held only by keyd.
expected=b617318655057264e28bc0b6fb378c8ef146be00
for args in "-mac HMAC -macopt key:vhsm:hmac1" "-hmac vhsm:hmac1"; do
  echo "\$ openssl dgst -sha1 $args -provider vhsm -provider default message"
  # shellcheck disable=SC2086 # args are two words each
  out=$(run_openssl dgst -sha1 $args)
  echo "$out"
  [ "${out##* }" = "$expected" ] || { echo "demo: expected $expected" >&2; exit 1; }
done

echo "== audit"
"${root[@]}" audit list | tail -n 5
"${root[@]}" audit verify

kill "$keyd"
wait "$keyd"
trap - EXIT
echo "== keyd stopped; demo done"
