#!/usr/bin/env bash
# Full TLS 1.3 handshakes per second of Debian's nginx (master + 2 workers) with the same
# ECDSA P-256 key once in a key file and once in vhsm (the key URI PEM), measured alternately
# with `openssl s_time -new` (2 clients in parallel), median of the runs.
# Usage: bench/tls_handshakes.sh [seconds-per-run] [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-5}
runs=${2:-3}
source bench/common.sh
OPENSSL_CONF=/dev/null openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
  -out "$work/key.pem" 2>/dev/null
OPENSSL_CONF=/dev/null openssl req -new -x509 -key "$work/key.pem" -subj /CN=localhost -days 1 \
  -out "$work/cert.pem"
bench_admin key import tls --type ec-p256 --in "$work/key.pem" >/dev/null
bench_admin key uri-pem tls >"$work/uri.pem"

start_nginx() {  # name port keyfile
  local dir=$work/nginx-$1
  mkdir -p "$dir"
  cat >"$dir/nginx.conf" <<CONF
daemon off;
worker_processes 2;
user root;
pid $dir/nginx.pid;
error_log $dir/error.log;
env OPENSSL_CONF;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $dir/body; proxy_temp_path $dir/proxy; fastcgi_temp_path $dir/fcgi;
  uwsgi_temp_path $dir/uwsgi; scgi_temp_path $dir/scgi;
  server {
    listen 127.0.0.1:$2 ssl;
    ssl_certificate $work/cert.pem;
    ssl_certificate_key $3;
    ssl_protocols TLSv1.3;
    location / { return 200 "ok\n"; }
  }
}
CONF
  OPENSSL_CONF=$cnf nginx -c "$dir/nginx.conf" -p "$dir" &
}
start_nginx file 18443 "$work/key.pem"
file_nginx=$!
start_nginx vhsm 18444 "$work/uri.pem"
vhsm_nginx=$!
trap 'kill $file_nginx $vhsm_nginx 2>/dev/null || true; cleanup' EXIT
sleep 1

rate() {  # port: handshakes/s of 2 parallel s_time clients
  local total=0 clients=()
  for i in 1 2; do
    OPENSSL_CONF=/dev/null openssl s_time -connect 127.0.0.1:$1 -new -time "$seconds" \
      -CAfile "$work/cert.pem" 2>/dev/null | awk '/connections in .* real seconds/ {print $1 / $4}' \
      >"$work/rate.$i" &
    clients+=($!)
  done
  wait "${clients[@]}"
  for i in 1 2; do total=$(awk -v t="$total" '{print t + $1}' "$work/rate.$i"); done
  echo "$total"
}
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
: >"$work/file.rates"
: >"$work/vhsm.rates"
for _ in $(seq "$runs"); do
  rate 18443 >>"$work/file.rates"
  rate 18444 >>"$work/vhsm.rates"
done
file_rate=$(median <"$work/file.rates")
vhsm_rate=$(median <"$work/vhsm.rates")
echo "| nginx TLS 1.3, ECDSA P-256 | handshakes/s (median of $runs) |"
echo "|---|---|"
echo "| key file | $file_rate |"
echo "| key in vhsm (URI PEM) | $vhsm_rate |"
echo "| ratio vhsm / file | $(awk -v a="$vhsm_rate" -v b="$file_rate" 'BEGIN {printf "%.2f", a / b}') |"
echo "keyd RSS: $(awk '/VmRSS/ {print $2, $3}' /proc/$keyd/status)"
