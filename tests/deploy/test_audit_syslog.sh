#!/usr/bin/env bash
# --audit-syslog: every audit record, refusals included, reaches syslog (authpriv) once it is
# committed, with its sequence number and chain hash; client text cannot forge a line. keyd
# runs in a mount namespace whose /dev/log is a datagram socket this test reads (the machine
# has no syslog daemon). Usage: test_audit_syslog.sh BUILD_DIR
set -euo pipefail
bin=$(realpath "$1")/bin
work=$(mktemp -d /tmp/vhsm-syslog.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "test_audit_syslog: $*" >&2; cat "$work/syslog.txt" >&2 2>/dev/null || true; exit 1; }
printf 'root-password\n' >"$work/root.pw"
chmod 600 "$work/root.pw"
"$bin/vhsm-admin" init --store "$work/store" --password-file "$work/root.pw" \
  --kdf-iterations 1000 >/dev/null 2>&1

python3 - "$work/log.sock" "$work/syslog.txt" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "ab", buffering=0) as out:
    while True:
        out.write(s.recv(65536).replace(b"\n", b"\\n") + b"\n")
PY
pids+=($!)
for _ in $(seq 50); do [ -S "$work/log.sock" ] && break; sleep 0.05; done
# A /dev of its own: the devices keyd opens, and the test's socket as /dev/log.
mkdir -p "$work/dev"
cat >"$work/run.sh" <<RUN
set -e
mount --make-rprivate /
mount -t tmpfs tmpfs "$work/dev"
for d in null zero urandom random; do touch "$work/dev/\$d"; mount --bind "/dev/\$d" "$work/dev/\$d"; done
touch "$work/dev/log" && mount --bind "$work/log.sock" "$work/dev/log"
mount --rbind "$work/dev" /dev
exec "$bin/vhsm-keyd" --store "$work/store" --socket "$work/keyd.sock" --audit-syslog \
  --host-netns /proc/self/ns/net --log-level warn
RUN
unshare -m bash "$work/run.sh" &
pids+=($!)
for _ in $(seq 100); do [ -S "$work/keyd.sock" ] && break; sleep 0.05; done
export VHSM_SOCKET=$work/keyd.sock
"$bin/vhsm-admin" --password-file "$work/root.pw" container unbind web >/dev/null
printf 'wrong\n' >"$work/wrong.pw"
"$bin/vhsm-admin" --user "$(printf 'x\nforged')" --password-file "$work/wrong.pw" user list \
  >/dev/null 2>&1 || true
"$bin/vhsm-admin" --password-file "$work/wrong.pw" user list >/dev/null 2>&1 || true
"$bin/vhsm-admin" --password-file "$work/root.pw" audit verify >/dev/null
sleep 0.3
records=$("$bin/vhsm-admin" --password-file "$work/root.pw" --json audit list)
lines=$(grep -c ' audit seq=' "$work/syslog.txt" || true)
python3 - "$records" "$work/syslog.txt" <<'PY' || fail "syslog does not carry the audit chain"
import json, re, sys
records = json.loads(sys.argv[1])
lines = [l for l in open(sys.argv[2], errors="replace") if " audit seq=" in l]
seqs = {int(re.search(r" audit seq=(\d+) ", l).group(1)): l for l in lines}
# Every record after the store's first (written by init, before keyd ran) is in syslog.
for r in records:
    if r["sequence"] == 1:
        continue
    line = seqs.get(r["sequence"])
    assert line, ("missing", r)
    assert "action=" + r["action"] in line and "vhsm-keyd[" in line, line
    assert ("result=" + r["result"]) in line or r["result"] == "ok", line
assert any("action=containerUnbind" in l for l in lines)
assert any("result=wrongPassword" in l for l in lines)
# authpriv (10) * 8 + info (6) or notice (5)
assert all(re.match(r"<(86|85)>", l) for l in lines), lines[0]
assert not any(l.startswith("forged") for l in open(sys.argv[2], errors="replace"))
PY
echo "   $lines audit lines in syslog, e.g.: $(grep -m1 'containerUnbind' "$work/syslog.txt" | cut -c1-150)"
echo "test_audit_syslog: all checks passed"
