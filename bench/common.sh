# Shared by the bench scripts (source it): a keyd on a temporary store pinned to CPU 0, a user
# "bench" and an openssl.cnf loading vhsm.so as that user. Sets work, keyd, bin, build, cnf.
build=$(realpath -m "${VHSM_BUILD_DIR:-$PWD/build}")  # absolute: it goes into openssl.cnf files
bin=$build/bin
work=$(mktemp -d)
cleanup() {
  # Every keyd on a store in $work, including those started in a subshell (a piped block).
  pkill -f -- "vhsm-keyd --store $work/" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
keyd_cpu=0
printf 'root-pw\n' >"$work/root.pw"
printf 'bench-password\n' >"$work/bench.pw"
# start_keyd STORE SOCKET: a keyd on a new store, pinned to keyd_cpu, with the user "bench";
# its pid in started_keyd.
start_keyd() {
  "$bin/vhsm-keyd" --init --store "$1" --log-level error <"$work/root.pw"
  taskset -c $keyd_cpu "$bin/vhsm-keyd" --store "$1" --socket "$2" --threads 2 --log-level warn \
    --host-netns /proc/self/ns/net &
  started_keyd=$!
  for _ in $(seq 100); do [ -S "$2" ] && break; sleep 0.05; done
  "$bin/vhsm-admin" --socket "$2" --password-file "$work/root.pw" user create bench \
    --new-password-file "$work/bench.pw" >/dev/null
}
start_keyd "$work/store" "$work/keyd.sock"
keyd=$started_keyd
cnf=$work/openssl.cnf
scripts/openssl-cnf.sh "$build/lib/ossl-modules/vhsm.so" "$work/keyd.sock" bench \
  "$work/bench.pw" >"$cnf"
bench_admin() {
  "$bin/vhsm-admin" --socket "$work/keyd.sock" --user bench --password-file "$work/bench.pw" "$@"
}
