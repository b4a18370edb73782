#!/usr/bin/env bash
# Operators' view of keyd: `vhsm-admin status --json` and the Prometheus text on
# --metrics-socket report the version, the store, connections and logged-in sessions per
# container, requests by kind and refusals by code; the metrics socket gets keyd's socket mode;
# and refusals from namespaces an attacker makes by the dozen (unshare -Urn) are counted by
# code, never named by namespace (tests/unit/test_metrics.cpp: held connections from many
# namespaces are one "unregistered" line); a neighbour that connects to the metrics socket and
# never sends holds it a second at most. Usage: test_status.sh BUILD_DIR
set -euo pipefail
bin=$(realpath "$1")/bin
work=$(mktemp -d /tmp/vhsm-status.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "test_status: $*" >&2; exit 1; }
printf 'root-password\n' >"$work/root.pw"
chmod 600 "$work/root.pw"
"$bin/vhsm-admin" init --store "$work/store" --password-file "$work/root.pw" \
  --kdf-iterations 1000 >/dev/null 2>&1
"$bin/vhsm-keyd" --store "$work/store" --socket "$work/keyd.sock" --socket-mode 0666 \
  --metrics-socket "$work/metrics.sock" --host-netns /proc/self/ns/net --log-level warn &
pids+=($!)
for _ in $(seq 100); do [ -S "$work/metrics.sock" ] && break; sleep 0.05; done
export VHSM_SOCKET=$work/keyd.sock
admin=("$bin/vhsm-admin" --password-file "$work/root.pw")

[ "$(stat -c %a "$work/metrics.sock")" = 666 ] || fail "the metrics socket's mode is not --socket-mode"
# Two wrong passwords, and 12 namespaces of an unprivileged user (unshare -Urn as nobody)
# each logging in as root, refused: one line per error code, never one per namespace.
printf 'wrong\n' >"$work/wrong.pw"
for _ in 1 2; do "$bin/vhsm-admin" --password-file "$work/wrong.pw" user list >/dev/null 2>&1 || true; done
cp "$work/root.pw" "$work/nobody.pw" && chown nobody "$work/nobody.pw"
for _ in $(seq 12); do
  setpriv --reuid nobody --regid nogroup --clear-groups unshare -Urn "$bin/vhsm-admin" \
    --password-file "$work/nobody.pw" container list >/dev/null 2>&1 || true
done
status=$("${admin[@]}" --json status)
echo "   $status"
python3 - "$status" "$work/store" <<'PY' || fail "status --json is not what keyd was doing"
import json, sys
s = json.loads(sys.argv[1])
assert s["version"] and s["store"] == sys.argv[2], s
assert s["uptime_seconds"] >= 0 and s["audit_queued"] >= 0
host = [c for c in s["containers"] if c["name"] == "host"]
assert host and host[0]["connections"] >= 1 and host[0]["sessions"] >= 1, s["containers"]
assert s["refusals"].get("wrongPassword", 0) >= 2, s["refusals"]
assert s["requests"].get("login", 0) >= 15, s["requests"]
assert s["refusals"].get("containerNotAllowed", 0) >= 12, s["refusals"]
assert all(not c["name"].startswith("unregistered-") for c in s["containers"]), s["containers"]
PY

# An unprivileged neighbour in its own namespaces connects to the metrics socket and never
# sends a request: it holds the metrics thread a second at most, so the scrape still answers.
setpriv --reuid nobody --regid nogroup --clear-groups unshare -Urn python3 -c "
import socket, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.connect('$work/metrics.sock')
time.sleep(30)" &
pids+=($!)
sleep 0.2
metrics=$(curl -s --max-time 5 --unix-socket "$work/metrics.sock" http://localhost/metrics) ||
  fail "the metrics socket did not answer while a neighbour held a connection"
echo "$metrics" | grep -E '^vhsm_(connections|sessions|refusals_total)' | sed 's/^/   /'
grep -q '^vhsm_uptime_seconds [0-9]' <<<"$metrics" || fail "no uptime in the metrics"
grep -qE '^vhsm_requests_total\{request="login"\} [0-9]+' <<<"$metrics" || fail "no logins counted"
grep -qE '^vhsm_refusals_total\{code="wrongPassword"\} [2-9]' <<<"$metrics" ||
  fail "wrong passwords not counted"
if grep -q 'unregistered-netns-' <<<"$metrics"; then fail "a namespace's own name in the metrics"; fi
echo "test_status: all checks passed"
