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
"$bin/vhsm-keyd" --store "$demo/store" --socket "$VHSM_SOCKET" --log-level warn &
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

echo "== the same HMAC through OpenSSL: openssl dgst with the vhsm provider"
cat >"$demo/openssl.cnf" <<CNF
openssl_conf = openssl_init
[openssl_init]
providers = provider_sect
alg_section = evp_properties
[evp_properties]
default_properties = ?provider=vhsm
[provider_sect]
default = default_sect
vhsm = vhsm_sect
[default_sect]
activate = 1
[vhsm_sect]
module = $build/lib/ossl-modules/vhsm.so
activate = 1
socket = $VHSM_SOCKET
user = alice
password-file = $demo/alice.pw
digests = local
CNF
printf 'Hi There' >"$demo/message"
# Sanitizer builds (tests only) preload their runtimes into the uninstrumented openssl.
run_openssl() {
  if [ -n "${VHSM_OPENSSL_PRELOAD:-}" ]; then
    LD_PRELOAD=$VHSM_OPENSSL_PRELOAD ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0 \
      OPENSSL_CONF=$demo/openssl.cnf openssl "$@"
  else
    OPENSSL_CONF=$demo/openssl.cnf openssl "$@"
  fi
}
run_openssl dgst -sha1 -mac HMAC -macopt key:vhsm:hmac1 "$demo/message"
run_openssl dgst -sha1 -hmac vhsm:hmac1 "$demo/message"

echo "== audit"
"${root[@]}" audit list | tail -n 5
"${root[@]}" audit verify

kill "$keyd"
wait "$keyd"
trap - EXIT
echo "== keyd stopped; demo done"
