#!/usr/bin/env bash
# keyd on the host serving real podman containers (runc, each in its own network namespace,
# keyd's socket bind-mounted), named by the OCI hook (vhsm-oci-hook) from their
# io.vhsm.container annotation:
#   - the image gets the provider package and what apt pulls for it, nothing of keyd;
#   - nginx in container "web" serves TLS with a vhsm key it never holds, curl gets the page;
#   - the same user and password from a container without the annotation, and from the host,
#     are refused (containerNotAllowed);
#   - restarted five times, "web" gets a new namespace each time, bound again, still serving;
#   - a second container annotated web while web runs fails to start, and web keeps its name;
#   - killed, its name is unbound at once (poststop): a process still holding the dead
#     container's namespace (an s_server nsentered into it) can no longer use alice's key.
# Usage: test_podman.sh BUILD_DIR DEB_DIR
set -euo pipefail
build=$(realpath "$1")
debs=$(realpath "$2")
here=$(dirname "$(realpath "$0")")
cache=${VHSM_CACHE:-/var/cache/vhsm-tests}
web_root=$("$here/rootfs.sh" web)
work=$(mktemp -d /tmp/vhsm-podman.XXXXXX)
chmod 755 "$work"
image=$work/image
keyd_pid=
export CONTAINERS_CONF=$work/containers.conf
cat >"$CONTAINERS_CONF" <<CONF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
# Not podman --hooks-dir: podman 4 forgets it when it restarts a container (podman#17935).
hooks_dir = ["$work/hooks"]
CONF
cleanup() {
  podman rm -f -t 0 --ignore web other intruder >/dev/null 2>&1 || true
  [ -n "$keyd_pid" ] && kill "$keyd_pid" 2>/dev/null && wait "$keyd_pid" 2>/dev/null
  for m in "$image/proc" "$image/var/cache/apt/archives" "$image"; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "test_podman: $*" >&2; [ -f "$work/keyd.log" ] && tail -20 "$work/keyd.log" >&2; exit 1; }

echo "== the image: Debian 12 + nginx-light (cached) + apt-get install ./vhsm-provider.deb"
mkdir -p "$image" "$work/upper" "$work/overlay-work"
mount -t overlay overlay -o "lowerdir=$web_root,upperdir=$work/upper,workdir=$work/overlay-work" "$image"
mount -t proc proc "$image/proc"
mkdir -p "$cache/apt-archives/partial"
mount --bind "$cache/apt-archives" "$image/var/cache/apt/archives"
cp "$debs"/vhsm-provider_*.deb "$image/tmp/"
provider_deb=/tmp/$(basename "$debs"/vhsm-provider_*.deb)
{ chroot "$image" apt-get update -qq &&
  DEBIAN_FRONTEND=noninteractive chroot "$image" apt-get install -y -qq --no-install-recommends \
    "$provider_deb"; } >"$work/apt.log" 2>&1 || { tail -20 "$work/apt.log"; fail "provider install"; }
umount "$image/proc" "$image/var/cache/apt/archives"
chroot "$image" dpkg-query -W -f='${Package}\n' >"$work/image-packages"
grep -qx vhsm-provider "$work/image-packages" || fail "the provider is not in the image"
if grep -E '^(vhsm-keyd|libvhsm-client0|liblmdb0|libcrypto\+\+8)$' "$work/image-packages"; then
  fail "the image got keyd's packages"
fi
echo "   added to the image: $(grep -F -x -v -f <(chroot "$web_root" dpkg-query -W -f='${Package}\n') \
  "$work/image-packages" | tr '\n' ' ')"

echo "== keyd on the host; an SO for the hook; alice bound to container web only"
mkdir -p "$work/run" "$work/hooks" "$work/etc"
printf 'root-password\n' >"$work/root.pw"
printf 'hook-password\n' >"$work/hook.pw"
printf 'alice-password\n' >"$work/alice.pw"
chmod 600 "$work"/*.pw
bin=$build/bin
"$bin/vhsm-admin" init --store "$work/store" --password-file "$work/root.pw" \
  --kdf-iterations 1000 >/dev/null 2>&1
"$bin/vhsm-keyd" --store "$work/store" --socket "$work/run/keyd.sock" --socket-mode 0666 \
  --host-netns /proc/self/ns/net --log-level info >"$work/keyd.log" 2>&1 &
keyd_pid=$!
for _ in $(seq 100); do [ -S "$work/run/keyd.sock" ] && break; sleep 0.05; done
export VHSM_SOCKET=$work/run/keyd.sock
root=("$bin/vhsm-admin" --password-file "$work/root.pw")
alice=("$bin/vhsm-admin" --user alice --password-file "$work/alice.pw")
"${root[@]}" user create oci-hook --so --flags create --container host \
  --new-password-file "$work/hook.pw" >/dev/null
cat >"$work/oci-hook.conf" <<CONF
socket = $work/run/keyd.sock
user = oci-hook
password-file = $work/hook.pw
state-dir = $work/hook-state
containers = web
CONF
for stage in createRuntime poststop; do
  sed "s#@VHSM_HOOK_PATH@#$bin/vhsm-oci-hook#; s#@STAGE@#$stage#g" \
    "$here/../../tools/oci_hook/vhsm-hook.json.in" |
    sed "s#\"args\": \[\"vhsm-oci-hook\", \"$stage\"\]#\"args\": [\"vhsm-oci-hook\", \"$stage\", \"--config\", \"$work/oci-hook.conf\"]#" \
      >"$work/hooks/vhsm-$stage.json"
done
# The key is made from the host while alice may still use it there, then the host is taken away.
"${root[@]}" user create alice --flags read,create --container host \
  --new-password-file "$work/alice.pw" >/dev/null
"${alice[@]}" key generate site --type ec-p256 >/dev/null
"${alice[@]}" key uri-pem site >"$work/etc/site.vhsm.pem"
"$here/../../scripts/openssl-cnf.sh" vhsm.so /run/vhsm/keyd.sock alice /etc/vhsm/alice.pw \
  | sed '/^module = /d' >"$work/etc/openssl.cnf"
cp "$work/alice.pw" "$work/etc/alice.pw"
chown -R root:www-data "$work/etc" && chmod 640 "$work/etc"/* && chmod 750 "$work/etc"
cat >"$work/etc/nginx.conf" <<'NGINX'
daemon off;
user www-data;
worker_processes 2;
pid /run/nginx.pid;
error_log /dev/stderr info;
env OPENSSL_CONF;
events { worker_connections 64; }
http {
  access_log off;
  server {
    listen 127.0.0.1:8443 ssl;
    ssl_certificate /tmp/site.crt;
    ssl_certificate_key /etc/vhsm/site.vhsm.pem;
    location / { return 200 "served by a key it never held\n"; }
  }
}
NGINX
# The certificate is made inside the container, by the key in keyd, before nginx starts.
cat >"$work/etc/start.sh" <<'START'
set -e
openssl req -new -x509 -key vhsm:site -subj /CN=web -days 1 -out /tmp/site.crt
exec nginx -c /etc/vhsm/nginx.conf
START
run_container() {  # NAME [podman options...]
  local name=$1
  shift
  podman run -d --name "$name" --network none \
    -v "$work/run:/run/vhsm" -v "$work/etc:/etc/vhsm:ro" -e OPENSSL_CONF=/etc/vhsm/openssl.cnf \
    "$@" --rootfs "$image:O" sh /etc/vhsm/start.sh >/dev/null
}
serves() {  # NAME: curl inside the container gets nginx's page over TLS
  for _ in $(seq 100); do
    [[ $(podman exec "$1" curl -sk https://127.0.0.1:8443/ 2>/dev/null) == *"never held"* ]] &&
      return 0
    sleep 0.1
  done
  return 1
}
cookie_of_web() {  # empty: no container web; 0: web is unbound
  "${root[@]}" --json container list | python3 -c \
    'import json,sys; print(next((c["netns_cookie"] for c in json.load(sys.stdin) if c["name"] == "web"), ""))'
}

echo "== nginx in container web (annotation io.vhsm.container=web) serves TLS with key site"
"${root[@]}" container add web --netns /proc/self/ns/net >/dev/null 2>&1 && fail "host netns taken as web"
# The name exists, unbound, before the container first runs, so that alice can be bound to it.
"${root[@]}" container unbind web >/dev/null
"${root[@]}" user modify alice --container web >/dev/null
[ "$(cookie_of_web)" = 0 ] || fail "an unbound web names a namespace"
run_container web --annotation io.vhsm.container=web || fail "podman run web"
serves web || { podman logs web; fail "nginx in web does not serve"; }
podman exec web sh -c '! grep -rl "BEGIN PRIVATE KEY" /etc /tmp 2>/dev/null' ||
  fail "a private key file is in the container"
echo "   curl in web: $(podman exec web curl -sk https://127.0.0.1:8443/)"

echo "== the same user and password without the annotation, and from the host: refused"
podman run --rm --name other --network none -v "$work/run:/run/vhsm" \
  -v "$work/etc:/etc/vhsm:ro" -e OPENSSL_CONF=/etc/vhsm/openssl.cnf --rootfs "$image:O" \
  openssl pkey -in vhsm:site -pubout >"$work/other.out" 2>&1 &&
  fail "a container without the annotation used the key"
grep -q containerNotAllowed "$work/other.out" || { cat "$work/other.out"; fail "other: not refused as containerNotAllowed"; }
# The host has no vhsm-provider package: the build tree's module.
sed "s#/run/vhsm/keyd.sock#$work/run/keyd.sock#; s#/etc/vhsm/alice.pw#$work/alice.pw#" \
  "$work/etc/openssl.cnf" | sed "/^\[vhsm_sect\]/a module = $build/lib/ossl-modules/vhsm.so" \
  >"$work/host-openssl.cnf"
OPENSSL_CONF=$work/host-openssl.cnf openssl pkey -in vhsm:site -pubout \
  >"$work/host.out" 2>&1 && fail "the host used alice's key"
grep -q containerNotAllowed "$work/host.out" || { cat "$work/host.out"; fail "host: not refused as containerNotAllowed"; }

echo "== web restarted five times: a new namespace each time, bound again, serving"
declare -A seen
seen[$(cookie_of_web)]=1
for i in 1 2 3 4 5; do
  podman restart -t 0 web >/dev/null
  cookie=$(cookie_of_web)
  [ -n "$cookie" ] && [ "$cookie" != 0 ] || fail "restart $i: web is not bound"
  [ -z "${seen[$cookie]:-}" ] || fail "restart $i: web kept an old namespace (cookie $cookie)"
  seen[$cookie]=1
  serves web || { podman logs web | tail; fail "restart $i: nginx does not serve"; }
done
echo "   cookies: ${!seen[*]}"

echo "== a second container claiming web while it runs fails to start; web keeps its name"
held=$(cookie_of_web)
podman run -d --name intruder --network none --annotation io.vhsm.container=web \
  --rootfs "$image:O" sleep 60 >"$work/intruder.out" 2>&1 && fail "the intruder started as web"
grep -q "names another namespace" "$work/intruder.out" || { cat "$work/intruder.out"; fail "intruder: not refused by the hook"; }
podman rm -f -t 0 --ignore intruder >/dev/null 2>&1 || true
[ "$(cookie_of_web)" = "$held" ] || fail "the intruder moved or unbound web"
serves web || fail "web stopped serving after the intruder"

echo "== killed: the name is unbound at once, and a session the namespace still held ends"
# A process outside the container holding its namespace (an s_server nsentered into it, signing
# with alice's key) outlives the container. Once the container is dead, its name must no
# longer vouch for that namespace.
web_pid=$(podman inspect -f '{{.State.Pid}}' web)
podman exec web cat /tmp/site.crt >"$work/site.crt"
nsenter -t "$web_pid" -n env OPENSSL_CONF="$work/host-openssl.cnf" openssl s_server -quiet \
  -accept 127.0.0.1:9443 -key vhsm:site -cert "$work/site.crt" -www >"$work/s_server.log" 2>&1 &
lingering=$!
handshake() { nsenter -t "$lingering" -n curl -sk -o /dev/null --max-time 5 https://127.0.0.1:9443/; }
for _ in $(seq 50); do handshake && break; sleep 0.1; done
handshake || { cat "$work/s_server.log"; fail "s_server in web's namespace does not serve"; }
podman kill web >/dev/null
podman wait web >/dev/null 2>&1 || true
for _ in $(seq 50); do [ "$(cookie_of_web)" = 0 ] && break; sleep 0.1; done
[ "$(cookie_of_web)" = 0 ] || fail "web still names a namespace after the container was killed"
# Read whole, then searched: with pipefail, grep -q closing the pipe early fails the pipeline.
audit=$("${root[@]}" audit list)
grep -q "containerUnbind.*web" <<<"$audit" || fail "no audit record of the unbinding"
if handshake; then fail "the dead container's namespace still signs with alice's key"; fi
# keyd's record of it: the signature, from the namespace that is no longer web's, refused.
audit=$("${root[@]}" audit list)
grep -qE "unregistered-netns-[0-9]+ +sign +site +containerNotAllowed" <<<"$audit" ||
  { tail <<<"$audit"; fail "no refusal of the lingering session in the audit"; }
kill "$lingering"
echo "test_podman: all checks passed"
