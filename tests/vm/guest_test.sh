#!/usr/bin/env bash
# Runs inside the guest kernel (started by run_vm_test.sh), as root, on the host's files
# shared read-only: keyd in one network namespace, clients in two others, everything over
# the vhsm_transport module. Prints "ok"/"not ok" lines and a final VHSM-VM-RESULT line.
# Usage: guest_test.sh SOURCE_DIR BUILD_DIR MODULE
set -u
src=$1 build=$2 module=$3
keyd=$build/bin/vhsm-keyd admin=$build/bin/vhsm-admin probe=$build/bin/vm_probe
provider=$build/lib/ossl-modules/vhsm.so
w=/tmp/vhsm
mkdir -p $w
export HOME=/tmp

passed=0 failed=0
check() {
  local name=$1
  shift
  if "$@"; then
    echo "ok - $name"
    passed=$((passed + 1))
  else
    echo "not ok - $name"
    failed=$((failed + 1))
  fi
}
contains() { grep -q -- "$2" <<<"$1"; }
in_ns() { local ns=$1; shift; ip netns exec "$ns" timeout 120 "$@"; }
stat_of() { cat /sys/module/vhsm_transport/stats/"$1"; }
not_unloadable() { ! rmmod vhsm_transport 2>/dev/null && test -e /sys/module/vhsm_transport; }
not_in_dmesg() { ! dmesg | grep -E "WARNING:|BUG:|Oops|general protection"; }

keyd_pid=
start_keyd() {
  rm -f $w/keyd.ready
  ip netns exec keyd "$keyd" --store $w/store --netlink --socket $w/keyd.sock --threads 2 \
    --login-timeout 2 \
    >>$w/keyd.log 2>&1 3>&- &
  keyd_pid=$!
  for _ in $(seq 200); do
    [ -S $w/keyd.sock ] && grep -q "vhsm-keyd ready" $w/keyd.log && return 0
    kill -0 $keyd_pid 2>/dev/null || break
    sleep 0.1
  done
  echo "keyd did not start:"
  cat $w/keyd.log
  return 1
}
stop_keyd() {
  kill "$@" $keyd_pid 2>/dev/null
  wait $keyd_pid 2>/dev/null
  : >$w/keyd.log
}

ip link set lo up
for ns in keyd ca cb; do
  ip netns add $ns
  ip -n $ns link set lo up
done
keyd_inode=$(stat -L -c %i /run/netns/keyd)
ca_inode=$(stat -L -c %i /run/netns/ca)

# --- the module ---------------------------------------------------------------------------
check "insmod with the server namespace as a parameter" insmod "$module" server_netns="$keyd_inode"
check "parameters and stats under /sys/module" \
  test "$(cat /sys/module/vhsm_transport/parameters/server_netns)" = "$keyd_inode" -a \
  "$(stat_of frames_forwarded)" = 0

out=$(in_ns ca $probe forge-login nobody pw /run/netns/ca)
check "a client with no keyd registered is told so ($out)" \
  contains "$out" "none is registered with the netlink transport"

# --- keyd, users, keys ----------------------------------------------------------------------
printf rootpw >$w/root.pw
printf alicepw >$w/alice.pw
"$admin" init --store $w/store --password-file $w/root.pw --kdf-iterations 1000 >/dev/null
check "keyd registers from its namespace" start_keyd
export VHSM_SOCKET=$w/keyd.sock
as_root() { "$admin" --password-file $w/root.pw "$@"; }
as_root container add a --netns /run/netns/ca >/dev/null
as_root container add b --netns /run/netns/cb >/dev/null
as_root user create alice --flags read,create --container a --new-password-file $w/alice.pw >/dev/null
hmac_key=0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b
aes_key=feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308
as_alice_netlink() { in_ns ca env VHSM_TRANSPORT=netlink "$admin" --user alice --password-file $w/alice.pw "$@"; }
check "vhsm-admin over netlink imports keys from container a" \
  as_alice_netlink key import k1 --type hmac --hex $hmac_key
as_alice_netlink key import a1 --type aes --hex $aes_key >/dev/null
check "and lists them" contains "$(as_alice_netlink key list)" a1

"$src/scripts/openssl-cnf.sh" "$provider" $w/keyd.sock alice $w/alice.pw --prefer >$w/vhsm.cnf
echo "transport = netlink" >>$w/vhsm.cnf # the last section is the provider's
head -c 300000 /dev/urandom >$w/data
iv=cafebabefacedbaddecaf888

# --- the openssl CLI and EVP through the provider over netlink --------------------------------
reference_mac=$(openssl mac -digest SHA1 -macopt hexkey:$hmac_key -in $w/data HMAC)
vhsm_mac=$(in_ns ca env OPENSSL_CONF=$w/vhsm.cnf openssl mac -propquery provider=vhsm \
  -digest SHA1 -macopt key:vhsm:k1 -in $w/data HMAC 2>&1)
check "openssl mac HMAC-SHA1 (300 kB, streamed) over netlink equals the default provider's" \
  test "$vhsm_mac" = "$reference_mac" -a -n "$reference_mac"
dgst=$(in_ns ca env OPENSSL_CONF=$w/vhsm.cnf openssl dgst -sha1 -hmac vhsm:k1 -r $w/data 2>&1)
check "openssl dgst -hmac vhsm:k1 under the global preference too" \
  test "${dgst%% *}" = "$(tr A-F a-f <<<"$reference_mac")"
reference_gcm=$($probe gcm $aes_key $iv <$w/data)
vhsm_gcm=$(in_ns ca env OPENSSL_CONF=$w/vhsm.cnf $probe gcm vhsm:a1 $iv <$w/data 2>&1)
check "AES-256-GCM through EVP over netlink equals the default provider's" \
  test "$vhsm_gcm" = "$reference_gcm" -a ${#reference_gcm} -gt 600000
unix_mac=$(in_ns ca env OPENSSL_CONF=$w/vhsm.cnf VHSM_TRANSPORT=unix openssl mac \
  -propquery provider=vhsm -digest SHA1 -macopt key:vhsm:k1 -in $w/data HMAC 2>&1)
check "the same client over the Unix socket is the same container" test "$unix_mac" = "$reference_mac"

# --- identity and authorisation -------------------------------------------------------------
out=$(in_ns cb env OPENSSL_CONF=$w/vhsm.cnf openssl mac -propquery provider=vhsm -digest SHA1 \
  -macopt key:vhsm:k1 -in $w/data HMAC 2>&1)
check "alice from unbound namespace b is refused over netlink ($(tail -1 <<<"$out"))" \
  contains "$out" "may not be used from container"
out=$(in_ns cb env OPENSSL_CONF=$w/vhsm.cnf VHSM_TRANSPORT=unix openssl mac -propquery \
  provider=vhsm -digest SHA1 -macopt key:vhsm:k1 -in $w/data HMAC 2>&1)
check "and over the Unix socket" contains "$out" "may not be used from container"
out=$(in_ns cb $probe forge-login alice alicepw /run/netns/ca)
check "a client in b forging a's identity in the header is still b ($out)" \
  contains "$out" "answered: containerNotAllowed"
dropped=$(stat_of frames_dropped)
out=$(in_ns cb $probe forge-reply)
check "a client's frame typed as a reply is dropped ($out)" \
  test "$out" = "forged reply: no answer" -a "$(stat_of frames_dropped)" -gt "$dropped"
# A logged-in socket closes with requests queued in a stopped keyd, whose queue is then filled
# so that the module's report of the close is lost; a new socket binds the freed port.
wait_line() { for _ in $(seq 300); do grep -q "$1" "$2" && return 0; sleep 0.1; done; return 1; }
trap '' PIPE # a probe that failed early must not take the script with it
mkfifo $w/reuse
in_ns ca $probe port-reuse alice alicepw <$w/reuse >$w/reuse.out 2>&1 &
reuse_pid=$!
exec 4>$w/reuse
wait_line "logged in" $w/reuse.out
dropped=$(stat_of frames_dropped)
kill -STOP $keyd_pid
echo go >&4
wait_line "closed" $w/reuse.out
kill -CONT $keyd_pid
echo go >&4
exec 4>&-
wait $reuse_pid
out=$(tr '\n' ' ' <$w/reuse.out)
out=${out##*closed }
out=${out% }
check "the module's report of the close was lost to keyd's full queue" \
  test "$(stat_of frames_dropped)" -gt "$dropped"
check "a socket on a closed client's port gets neither its session nor its replies ($out)" \
  test "$out" = "port-reuse: old login ok, new socket's whoami notLoggedIn, replies meant for the old socket 0"
# As the unprivileged neighbour: uid 65534 in a network namespace of its own, which root makes
# for it (`unshare -Urn` as uid 65534 fails with EPERM in this guest; the module checks no
# user namespace either way).
out=$(timeout 120 unshare -n setpriv --reuid 65534 --regid 65534 --clear-groups \
  $probe idle-sessions 64 4 2>&1)
check "unregistered namespaces share 64 sessions, and idle ones without a login end ($out)" \
  test "$out" = "idle-sessions: 64 held, 0 refused; one more: tooManyOperations; after 4 s idle: ok"
out=$(in_ns ca $probe register)
check "a client namespace cannot register as the server ($out)" test "$out" = "register: EPERM"
out=$(in_ns keyd $probe register)
check "a second server in keyd's namespace is refused ($out)" test "$out" = "register: EBUSY"

# --- measurements (emulated CPU: for comparison between the two, not absolute) -------------
for transport in netlink unix; do
  in_ns ca env VHSM_PASSWORD=alicepw $probe rtt $transport alice k1 2000 | sed 's/^/# measured /'
done

# --- keyd killed and restarted; the module held while a client socket is open -----------------
mkfifo $w/go
in_ns ca env VHSM_PASSWORD=alicepw $probe hmac-wait alice k1 <$w/go >$w/probe.out 2>&1 &
probe_pid=$!
exec 3>$w/go
for _ in $(seq 100); do grep -q first $w/probe.out && break; sleep 0.1; done
stop_keyd -KILL
out=$(in_ns ca env OPENSSL_CONF=$w/vhsm.cnf openssl mac -propquery provider=vhsm -digest SHA1 \
  -macopt key:vhsm:k1 -in $w/data HMAC 2>&1)
check "with keyd killed, clients get an error ($(tail -1 <<<"$out"))" \
  contains "$out" "none is registered"
check "keyd restarts and registers again" start_keyd
check "unloading is refused while a client socket is open" not_unloadable
echo go >&3
exec 3>&-
wait $probe_pid
echo "# the connected client exited with status $?: $(tr '\n' ' ' <$w/probe.out)"
first=$(sed -n 's/^first: //p' $w/probe.out)
check "the client that was connected across the restart works again ($(tail -1 $w/probe.out))" \
  grep -q "^second: $first\$" $w/probe.out
vhsm_mac=$(in_ns ca env OPENSSL_CONF=$w/vhsm.cnf openssl mac -propquery provider=vhsm \
  -digest SHA1 -macopt key:vhsm:k1 -in $w/data HMAC 2>&1)
check "new clients work again" test "$vhsm_mac" = "$reference_mac"

# --- unload and reload ----------------------------------------------------------------------
echo "# stats: $(cd /sys/module/vhsm_transport/stats && grep -H . * | tr '\n' ' ')"
check "frames were forwarded and replies routed" \
  test "$(stat_of frames_forwarded)" -gt 0 -a "$(stat_of replies_routed)" -gt 0
stop_keyd -TERM
check "rmmod once every socket is closed" rmmod vhsm_transport
check "the module is gone" test ! -e /sys/module/vhsm_transport
check "insmod again, this time forwarding only from namespace a" \
  insmod "$module" server_netns="$keyd_inode" allowed_netns="$ca_inode"
check "keyd registers with the reloaded module" start_keyd
vhsm_mac=$(in_ns ca env OPENSSL_CONF=$w/vhsm.cnf openssl mac -propquery provider=vhsm \
  -digest SHA1 -macopt key:vhsm:k1 -in $w/data HMAC 2>&1)
check "clients work after the reload" test "$vhsm_mac" = "$reference_mac"
out=$(in_ns cb $probe forge-login alice alicepw /run/netns/ca)
check "a namespace outside allowed_netns is not forwarded ($out)" \
  contains "$out" "does not forward frames from this network namespace"
stop_keyd -TERM
check "final rmmod" rmmod vhsm_transport
check "the kernel logged no warning or bug" not_in_dmesg

echo "# $passed passed, $failed failed"
if [ $failed -eq 0 ] && [ $passed -gt 0 ]; then
  echo "VHSM-VM-RESULT: PASS"
  exit 0
fi
echo "VHSM-VM-RESULT: FAIL"
exit 1
