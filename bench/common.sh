# Shared by the bench scripts (source it): a keyd on a temporary store pinned to CPU 0, a user
# "bench" and an openssl.cnf loading vhsm.so as that user. Sets work, keyd, bin, build, cnf.
build=${VHSM_BUILD_DIR:-$PWD/build}
bin=$build/bin
work=$(mktemp -d)
cleanup() {
  kill "$keyd" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
keyd_cpu=0
printf 'root-pw\n' | "$bin/vhsm-keyd" --init --store "$work/store" --log-level error
taskset -c $keyd_cpu "$bin/vhsm-keyd" --store "$work/store" --socket "$work/keyd.sock" \
  --threads 2 --log-level warn &
keyd=$!
for _ in $(seq 100); do [ -S "$work/keyd.sock" ] && break; sleep 0.05; done
printf 'root-pw\n' >"$work/root.pw"
printf 'bench-password\n' >"$work/bench.pw"
"$bin/vhsm-admin" --socket "$work/keyd.sock" --password-file "$work/root.pw" user create bench \
  --new-password-file "$work/bench.pw" >/dev/null
cnf=$work/openssl.cnf
scripts/openssl-cnf.sh "$build/lib/ossl-modules/vhsm.so" "$work/keyd.sock" bench \
  "$work/bench.pw" >"$cnf"
bench_admin() {
  "$bin/vhsm-admin" --socket "$work/keyd.sock" --user bench --password-file "$work/bench.pw" "$@"
}
