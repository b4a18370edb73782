#!/usr/bin/env bash
# The bench harness, one command: builds what it needs, starts a keyd on a temporary store,
# runs every case next to its references (raw SEQPACKET ceiling, in-process OpenSSL, SoftHSM2)
# and writes a Markdown report and a plot of the ratios to bench/results/ (or $VHSM_BENCH_OUT).
#   bench/harness.sh full [same|cross]   measurement: each table's cases in turn, 30 × 0.2 s each
#   bench/harness.sh quick               smoke run (CI): tiny durations, proves the harness works
# keyd is pinned to CPU 0; the bench client to CPU 0 ("same", default) or CPU 1 ("cross").
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-full}
placement=${2:-same}
case "$mode" in
  quick) seconds=0.05 runs=1 sizes="64 4096" tls_seconds=1 tls_runs=1 process_runs=5
    scale_keys=300 table_seconds=0.05 table_runs=1 ;;
  full) seconds=2 runs=3 sizes="64 4096 65536 1048576" tls_seconds=5 tls_runs=3 process_runs=100
    scale_keys=100000 table_seconds=0.2 table_runs=30 ;;
  *) echo "usage: $0 quick|full [same|cross]" >&2; exit 2 ;;
esac
[ -x "${VHSM_BUILD_DIR:-build}/bin/vhsm-bench-client" ] || scripts/build.sh release >/dev/null
out=${VHSM_BENCH_OUT:-$PWD/bench/results}
mkdir -p "$out"
stamp=$(date -u +%Y-%m-%dT%H%M%SZ)
report=$out/$stamp-$mode.md
source bench/common.sh
client_cpu=0
[ "$placement" = cross ] && client_cpu=1
bench_admin key import bench-hmac --type hmac --hex 0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b \
  >/dev/null
# The same stanza with the global preference (the pass-through cases), and that one without
# a password (a whole openssl process through an unlock).
scripts/openssl-cnf.sh "$build/lib/ossl-modules/vhsm.so" "$work/keyd.sock" bench \
  "$work/bench.pw" --prefer >"$work/preferring.cnf"
scripts/openssl-cnf.sh "$build/lib/ossl-modules/vhsm.so" "$work/keyd.sock" bench "" --prefer \
  >"$work/unlocked.cnf"

{
  echo "# vhsm bench, $mode mode, $stamp"
  echo
  echo "keyd on CPU $keyd_cpu, clients on CPU $client_cpu. Size and signature tables: the run"
  echo "with the median ops/s of $table_runs interleaved runs of $table_seconds s per case (all of a"
  echo "table's cases in turn, $table_runs times); elsewhere $runs runs of $seconds s."
  echo "Ratios: ×ceiling = ops/s over the raw SEQPACKET round trip of the same"
  echo "size; ×OpenSSL and ×SoftHSM2 = over the in-process reference in the same table."
  echo
  echo "## Symmetric operations"
  echo
  # shellcheck disable=SC2086
  taskset -c $client_cpu "$bin/vhsm-bench-client" --socket "$work/keyd.sock" \
    --seconds "$table_seconds" --runs "$table_runs" --sizes $sizes --raw-server-cpu $keyd_cpu \
    --provider-config "$cnf" --passthrough-config "$work/preferring.cnf"
  echo
  echo "Concurrency: keyd (2 worker threads) and the clients unpinned, free to use both CPUs."
  taskset -a -p -c 0-1 "$keyd" >/dev/null
  "$bin/vhsm-bench-client" --socket "$work/keyd.sock" --seconds "$seconds" --concurrency-only
  "$bin/vhsm-bench-sign" --socket "$work/keyd.sock" --seconds "$seconds" --concurrency-only
  taskset -a -p -c $keyd_cpu "$keyd" >/dev/null
  echo
  echo "## Signatures (64-byte message)"
  echo
  taskset -c $client_cpu "$bin/vhsm-bench-sign" --socket "$work/keyd.sock" \
    --seconds "$table_seconds" --runs "$table_runs" --provider-config "$cnf"
  echo
  echo "## A whole openssl process: dgst -sha256 -hmac, vhsm key (unlocked, no password) vs plain key"
  echo
  "$bin/vhsm-admin" --socket "$work/keyd.sock" --password-file "$work/root.pw" \
    unlock bench --container host --ttl 1h --user-password-file "$work/bench.pw" >/dev/null
  head -c 64 /dev/urandom >"$work/msg"
  # Plain and vhsm processes alternate in blocks of 5: measured one block after the other, the
  # extra cost read anywhere from 2.1 to 4.6 ms between runs (machine drift, not vhsm).
  plain_ns=0 vhsm_ns=0
  block() {  # key: ns for 5 processes
    local start
    start=$(date +%s%N)
    for _ in 1 2 3 4 5; do
      OPENSSL_CONF=$work/unlocked.cnf openssl dgst -sha256 -hmac "$1" "$work/msg" >/dev/null
    done
    echo $(($(date +%s%N) - start))
  }
  for _ in $(seq $((process_runs / 5))); do
    plain_ns=$((plain_ns + $(block plainkey)))
    vhsm_ns=$((vhsm_ns + $(block vhsm:bench-hmac)))
  done
  plain=$(awk -v t="$plain_ns" -v n="$process_runs" 'BEGIN {printf "%.2f", t / n / 1e6}')
  vhsm=$(awk -v t="$vhsm_ns" -v n="$process_runs" 'BEGIN {printf "%.2f", t / n / 1e6}')
  echo "| key | ms per process ($process_runs runs, alternating blocks of 5) |"
  echo "|---|---|"
  echo "| plain key | $plain |"
  echo "| vhsm:bench-hmac | $vhsm |"
  echo "| extra cost | $(awk -v a="$vhsm" -v b="$plain" 'BEGIN {printf "%.2f", a - b}') |"
  echo
  echo "## Store size: the same HMAC with the store at 10 keys and at $scale_keys"
  # A second keyd whose store stays small, to compare with in alternating blocks.
  start_keyd "$work/small-store" "$work/small.sock"
  "$bin/vhsm-admin" --socket "$work/small.sock" --user bench --password-file "$work/bench.pw" \
    key import bench-hmac --type hmac --hex 0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b >/dev/null
  taskset -c $client_cpu "$bin/vhsm-bench-client" --socket "$work/keyd.sock" \
    --seconds "$seconds" --runs "$runs" --scale-keys "$scale_keys" \
    --small-store-socket "$work/small.sock"
  kill "$started_keyd"
  echo
  echo "keyd RSS after these runs: $(awk '/VmRSS/ {print $2, $3}' /proc/$keyd/status)"
} | tee "$report"

# nginx handshakes (its own keyd, so it runs after this one is done).
{
  echo
  echo "## nginx TLS 1.3 handshakes"
  echo
  bench/tls_handshakes.sh "$tls_seconds" "$tls_runs" | grep -v 'vhsm-keyd warn'
} | tee -a "$report"

# The plot: each vhsm case's ratio to in-process OpenSSL and to SoftHSM2.
awk -F'|' '/ vhsm / && $9 ~ /[0-9]/ {
  gsub(/^ +| +$/, "", $2); gsub(/ /, "", $3); gsub(/ /, "", $9); gsub(/ /, "", $10)
  name = $2 " " $3; gsub(/ /, "_", name); print name, $9, ($10 == "" ? 0 : $10) }' \
  "$report" >"$work/ratios.dat"
png=${report%.md}.png
gnuplot <<GNUPLOT
set terminal pngcairo size 1600,800
set rmargin 14  # the last labels slant past the plot
set output "$png"
set title "vhsm vs in-process references ($mode, $stamp)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set ylabel "ratio (1 = as fast as the reference)"
set xtics rotate by -45 font ",8" noenhanced
set grid ytics
set key left top
plot "$work/ratios.dat" using 2:xtic(1) title "vs in-process OpenSSL", \
     "" using 3 title "vs SoftHSM2 (in-process PKCS#11)"
GNUPLOT
echo
echo "report: $report"
echo "plot:   $png"
