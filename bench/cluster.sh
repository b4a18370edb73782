#!/usr/bin/env bash
# The shared store's cost (bench/README.md, "Cluster"): a three-member etcd cluster on loopback
# with client certificates (members on CPU 1), two keyds on it as hosts a and b and one keyd on
# LMDB (all pinned to CPU 0 with the bench client), then vhsm-bench-cluster.
#   bench/cluster.sh [seconds] [samples]     (quick: bench/cluster.sh 0.2 20)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-2} samples=${2:-200}
source bench/common.sh  # the LMDB keyd, user bench
etcd_pids=()
cleanup_cluster() {
  for p in "${etcd_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${etcd_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  cleanup
}
trap cleanup_cluster EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

d=$work/etcd
mkdir -p "$d"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/ca.key" \
  -out "$d/ca.pem" -days 2 -subj "/CN=bench CA" 2>/dev/null
for n in server client; do
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/$n.key" \
    -out "$d/$n.csr" -subj "/CN=$n" 2>/dev/null
  echo "subjectAltName=IP:127.0.0.1" >"$d/$n.ext"
  openssl x509 -req -in "$d/$n.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
    -extfile "$d/$n.ext" -out "$d/$n.pem" 2>/dev/null
done
head -c 32 /dev/urandom >"$d/record.key" && chmod 600 "$d/record.key"
clients=() peers=() cluster=""
for i in 0 1 2; do
  clients+=("$(port)") peers+=("$(port)")
  cluster+="${cluster:+,}e$i=http://127.0.0.1:${peers[$i]}"
done
for i in 0 1 2; do
  taskset -c 1 etcd --name "e$i" --data-dir "$d/m$i" --log-level warn \
    --listen-client-urls "https://127.0.0.1:${clients[$i]}" \
    --advertise-client-urls "https://127.0.0.1:${clients[$i]}" \
    --listen-peer-urls "http://127.0.0.1:${peers[$i]}" \
    --initial-advertise-peer-urls "http://127.0.0.1:${peers[$i]}" \
    --initial-cluster "$cluster" --initial-cluster-state new --client-cert-auth \
    --trusted-ca-file "$d/ca.pem" --cert-file "$d/server.pem" --key-file "$d/server.key" \
    2>"$d/e$i.log" &
  etcd_pids+=($!)
done
uri="etcd://127.0.0.1:${clients[0]},127.0.0.1:${clients[1]},127.0.0.1:${clients[2]}/bench"
tls=(--etcd-cacert "$d/ca.pem" --etcd-cert "$d/client.pem" --etcd-key "$d/client.key"
  --etcd-record-key "$d/record.key")
for _ in $(seq 100); do
  ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:${clients[0]}" --cacert "$d/ca.pem" \
    --cert "$d/client.pem" --key "$d/client.key" endpoint health >/dev/null 2>&1 && break
  sleep 0.1
done
"$bin/vhsm-keyd" --init --store "$uri" "${tls[@]}" --host-name a --log-level error \
  <"$work/root.pw"
for h in a b; do
  taskset -c $keyd_cpu "$bin/vhsm-keyd" --store "$uri" "${tls[@]}" --host-name $h \
    --socket "$work/$h.sock" --threads 2 --log-level warn --host-netns /proc/self/ns/net &
  etcd_pids+=($!)
  for _ in $(seq 100); do [ -S "$work/$h.sock" ] && break; sleep 0.05; done
done
"$bin/vhsm-admin" --socket "$work/a.sock" --password-file "$work/root.pw" user create bench \
  --new-password-file "$work/bench.pw" >/dev/null
echo "vhsm-bench-cluster, $seconds s HMAC comparison, $samples samples, $(date -u +%FT%TZ)"
taskset -c $keyd_cpu "$bin/vhsm-bench-cluster" --lmdb-socket "$work/keyd.sock" \
  --etcd-socket-a "$work/a.sock" --etcd-socket-b "$work/b.sock" --seconds "$seconds" \
  --samples "$samples" --etcd-endpoint "127.0.0.1:${clients[0]}" --etcd-cacert "$d/ca.pem" \
  --etcd-cert "$d/client.pem" --etcd-key "$d/client.key"
