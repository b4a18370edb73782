#!/usr/bin/env bash
# keyd under the limits of its systemd unit, applied by hand (this machine has no systemd as
# PID 1): the unit's CapabilityBoundingSet (read from packaging/systemd/vhsm-keyd.service) as
# bounding, permitted and effective set, no new privileges, every mount read-only
# but the state and runtime directories (ProtectSystem=strict). Under them keyd must still do
# what it is for: serve a host login and key use, register a container by the pid of a
# process in another network namespace, serve a client of another uid (www-data), lock its
# memory, and write its store. Usage: test_hardened_keyd.sh BUILD_DIR
set -euo pipefail
bin=$(realpath "$1")/bin
here=$(dirname "$(realpath "$0")")
unit=$here/../../packaging/systemd/vhsm-keyd.service
work=$(mktemp -d /tmp/vhsm-hardened.XXXXXX)
chmod 755 "$work"
keyd_pid= netns_pid=
cleanup() {
  [ -n "$keyd_pid" ] && kill "$keyd_pid" 2>/dev/null
  [ -n "$netns_pid" ] && kill "$netns_pid" 2>/dev/null
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "test_hardened_keyd: $*" >&2; [ -f "$work/keyd.log" ] && cat "$work/keyd.log" >&2; exit 1; }

caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$unit")
[ -n "$caps" ] || fail "the unit has no CapabilityBoundingSet"
setpriv_caps=-all
for c in $caps; do setpriv_caps+=",+$(echo "${c#CAP_}" | tr 'A-Z' 'a-z')"; done
grep -q '^NoNewPrivileges=yes$' "$unit" && grep -q '^ProtectSystem=strict$' "$unit" || fail "the unit's limits changed: update this test"
echo "== keyd with capabilities: $caps"

mkdir -p "$work/state" "$work/run" "$work/bin"
cp "$bin/vhsm-keyd" "$bin/vhsm-admin" "$work/bin/"
printf 'root-password\n' >"$work/root.pw"
printf 'alice-password\n' >"$work/alice.pw"
chmod 600 "$work"/*.pw
"$work/bin/vhsm-admin" init --store "$work/state" --password-file "$work/root.pw" \
  --kdf-iterations 1000 >/dev/null 2>&1
chmod 700 "$work/state"

# In its own mount namespace: the state and runtime directories become mounts of their own,
# then every other mount but /proc, /sys and /dev is remounted read-only.
cat >"$work/confine.sh" <<CONFINE
set -e
mount --make-rprivate /
mount --bind "$work/state" "$work/state"
mount --bind "$work/run" "$work/run"
findmnt -rno TARGET | while read -r m; do
  case "\$m" in /proc*|/sys*|/dev*|"$work/state"|"$work/run") continue ;; esac
  mount -o remount,bind,ro "\$m" 2>/dev/null || true
done
if touch "$work/bin/probe" 2>/dev/null; then echo "confine: the root stayed writable" >&2; exit 1; fi
exec setpriv --no-new-privs --inh-caps=-all \
  --bounding-set=$setpriv_caps --ambient-caps=-all -- \
  "$work/bin/vhsm-keyd" --store "$work/state" --socket "$work/run/keyd.sock" \
  --socket-group www-data --host-netns /proc/self/ns/net
CONFINE
unshare -m bash "$work/confine.sh" >"$work/keyd.log" 2>&1 &
keyd_pid=$!
for _ in $(seq 100); do [ -S "$work/run/keyd.sock" ] && break; sleep 0.05; done
sleep 0.1
# unshare, bash and setpriv each exec the next: the pid is keyd's.
keyd=$keyd_pid
[ -S "$work/run/keyd.sock" ] && kill -0 "$keyd" 2>/dev/null || fail "keyd did not start"

echo "== its capability sets are the unit's, and nothing else"
expected=0
for c in $caps; do
  n=$(grep -w "define $c" /usr/include/linux/capability.h | awk '{print $3}')
  expected=$((expected | (1 << n)))
done
for set in CapBnd CapPrm CapEff; do
  got=$((16#$(awk -v s="$set:" '$1 == s {print $2}' "/proc/$keyd/status")))
  [ "$got" -eq "$expected" ] || fail "$set is $(printf %x $got), the unit's is $(printf %x $expected)"
done
grep -q '^NoNewPrivs:[[:space:]]*1' "/proc/$keyd/status" || fail "keyd may gain privileges"
if grep -q "lacks CAP_IPC_LOCK\|cannot lock" "$work/keyd.log"; then fail "keyd could not lock its memory"; fi
[ "$(awk '/^VmLck/ {print $2}' "/proc/$keyd/status")" -gt 0 ] || fail "keyd's memory is not locked"

export VHSM_SOCKET=$work/run/keyd.sock
admin="$work/bin/vhsm-admin"
echo "== a container registered by the pid of a process in its own network namespace"
unshare -n sleep 300 &
netns_pid=$!
sleep 0.2
"$admin" --password-file "$work/root.pw" container add web --pid "$netns_pid" >/dev/null ||
  fail "container add by pid under the unit's limits"
"$admin" --password-file "$work/root.pw" user create alice --flags read,create \
  --container host --container web --new-password-file "$work/alice.pw" >/dev/null
"$admin" --user alice --password-file "$work/alice.pw" key import hmac1 --type hmac \
  --hex 0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b >/dev/null || fail "key import (store write)"

echo "== a client in that namespace, and one of another uid on the host"
nsenter -t "$netns_pid" -n "$admin" --user alice --password-file "$work/alice.pw" key list \
  >"$work/keys-web" 2>&1 || fail "a client in the container: $(cat "$work/keys-web")"
chown www-data "$work/alice.pw"
setpriv --reuid www-data --regid www-data --init-groups "$admin" --user alice \
  --password-file "$work/alice.pw" key list >"$work/keys-www" 2>&1 ||
  fail "a www-data client: $(cat "$work/keys-www")"
grep -q hmac1 "$work/keys-www" || fail "www-data's key list lacks hmac1"
echo "test_hardened_keyd: all checks passed"
