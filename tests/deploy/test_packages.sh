#!/usr/bin/env bash
# The Debian packages as an operator gets them: lintian reports no errors; `apt-get install
# ./*.deb` into a clean Debian 12 root filesystem (tests/deploy/rootfs.sh, cached) resolves
# every dependency from the mirror; there the installed keyd, vhsm-admin and provider work
# together (a store made, a user and key created, an HMAC by reference through the openssl
# tool checked against RFC 2202), p11-kit lists the installed PKCS#11 module, the unit passes systemd-analyze verify against that root,
# vhsm-admin's and the unit's paths agree, and DKMS builds the module from its package for
# Debian's kernel. Usage: test_packages.sh DEB_DIR
set -euo pipefail
debs=$(realpath "$1")
here=$(dirname "$(realpath "$0")")
cache=${VHSM_CACHE:-/var/cache/vhsm-tests}
base=$("$here/rootfs.sh")
work=$(mktemp -d /tmp/vhsm-packages.XXXXXX)
root=$work/root
keyd_pid=
cleanup() {
  [ -n "$keyd_pid" ] && kill "$keyd_pid" 2>/dev/null
  for m in proc dev var/cache/apt/archives; do umount -l "$root/$m" 2>/dev/null || true; done
  umount -l "$root" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "test_packages: $*" >&2; exit 1; }

echo "== lintian"
lintian --tag-display-limit 0 "$debs"/*.deb >"$work/lintian.txt" 2>&1 || true
grep -v '^running with root' "$work/lintian.txt" | sed 's/^/   /' || true
! grep -q '^E: ' "$work/lintian.txt" || fail "lintian reports errors"

echo "== apt-get install ./*.deb into a clean Debian 12 root"
mkdir -p "$root" "$work/upper" "$work/overlay-work" "$cache/apt-archives/partial"
mount -t overlay overlay -o "lowerdir=$base,upperdir=$work/upper,workdir=$work/overlay-work" "$root"
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
# Downloaded dependencies are kept between runs, outside the checkout.
mount --bind "$cache/apt-archives" "$root/var/cache/apt/archives"
cp /etc/resolv.conf "$root/etc/resolv.conf"
mkdir -p "$root/tmp/debs"
cp "$debs"/*.deb "$root/tmp/debs/"
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root "$@"; }
in_root apt-get update -qq >"$work/apt.log" 2>&1 || { cat "$work/apt.log"; fail "apt-get update"; }
packages=()
for deb in "$debs"/*.deb; do packages+=("/tmp/debs/$(basename "$deb")"); done
DEBIAN_FRONTEND=noninteractive in_root apt-get install -y -qq --no-install-recommends \
  "${packages[@]}" openssl systemd p11-kit >>"$work/apt.log" 2>&1 ||
  { tail -30 "$work/apt.log"; fail "install"; }
for p in vhsm-keyd vhsm-provider vhsm-pkcs11 libvhsm-client0 libvhsm-client-dev vhsm-transport-dkms; do
  in_root dpkg-query -W -f='   ${Package} ${Version} ${Status}\n' "$p"
done
in_root getent group vhsm >/dev/null || fail "postinst made no vhsm group"
grep -q '^vhsm-transport/' <<<"$(in_root dkms status)" || fail "the module's source is not in DKMS"
for f in /usr/libexec/vhsm/vhsm-oci-hook /usr/share/containers/oci/hooks.d/vhsm-createRuntime.json \
  /usr/share/containers/oci/hooks.d/vhsm-poststop.json; do
  [ -e "$root$f" ] || fail "vhsm-keyd lacks $f"
done
grep -q '"path": "/usr/libexec/vhsm/vhsm-oci-hook"' \
  "$root/usr/share/containers/oci/hooks.d/vhsm-createRuntime.json" || fail "the hook file names another path"

echo "== the unit: systemd-analyze verify against the installed root, paths as vhsm-admin's"
systemd-analyze verify --root="$root" /usr/lib/systemd/system/vhsm-keyd.service
unit=$root/usr/lib/systemd/system/vhsm-keyd.service
grep -q -- '--store /var/lib/vhsm ' "$unit" && grep -q -- '--socket /run/vhsm/keyd.sock ' "$unit" ||
  fail "the unit's paths differ from /var/lib/vhsm and /run/vhsm/keyd.sock"
grep -q '^StateDirectory=vhsm$' "$unit" && grep -q '^RuntimeDirectory=vhsm$' "$unit" ||
  fail "the unit does not own /var/lib/vhsm and /run/vhsm"

echo "== the installed parts together: init, keyd, a user and key, openssl by reference"
printf 'root-password\n' >"$root/root.pw"
printf 'alice-password\n' >"$root/alice.pw"
chmod 600 "$root"/*.pw
in_root vhsm-admin init --store /var/lib/vhsm --password-file /root.pw --kdf-iterations 1000 \
  >/dev/null
mkdir -p "$root/run/vhsm"
# Not through in_root: $! must be keyd itself (chroot and env exec it), not a subshell.
chroot "$root" /usr/bin/env -i PATH=/usr/bin:/bin vhsm-keyd --store /var/lib/vhsm \
  --socket-group vhsm --host-netns /proc/self/ns/net --log-level warn &
keyd_pid=$!
for _ in $(seq 100); do [ -S "$root/run/vhsm/keyd.sock" ] && break; sleep 0.05; done
mode=$(in_root stat -c '%G %a' /run/vhsm/keyd.sock)
[ "$mode" = "vhsm 660" ] || fail "socket is $mode, not group vhsm mode 660"
in_root vhsm-admin --password-file /root.pw user create alice --flags read,create \
  --container host --new-password-file /alice.pw
in_root vhsm-admin --user alice --password-file /alice.pw key import hmac1 --type hmac \
  --hex 0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b
printf 'Hi There' >"$root/message"
out=$(in_root env OPENSSL_CONF=/dev/null VHSM_USER=alice VHSM_PASSWORD_FILE=/alice.pw \
  openssl dgst -sha1 -mac HMAC -macopt key:vhsm:hmac1 -provider vhsm -provider default /message)
[ "${out##* }" = b617318655057264e28bc0b6fb378c8ef146be00 ] || fail "HMAC by reference: $out"
echo "   RFC 2202 case 1 through the installed provider: ${out##* }"
# The PKCS#11 package enables nothing by itself; with its example module file copied into
# place, p11-kit loads it, and its token is alice, bound to host.
! in_root p11-kit list-modules 2>&1 | grep -q '^vhsm:' || fail "the package enabled the module"
in_root cp /usr/share/doc/vhsm-pkcs11/examples/vhsm.module /etc/pkcs11/modules/ 2>/dev/null ||
  { in_root mkdir -p /etc/pkcs11/modules &&
    in_root cp /usr/share/doc/vhsm-pkcs11/examples/vhsm.module /etc/pkcs11/modules/; }
modules=$(in_root p11-kit list-modules 2>&1)
grep -q '^vhsm: libvhsm-pkcs11.so' <<<"$modules" && grep -q 'token: alice' <<<"$modules" ||
  { echo "$modules"; fail "p11-kit does not list the installed module with alice's token"; }
echo "   p11-kit lists the installed module once its example file is in place, token alice"
kill "$keyd_pid"
wait "$keyd_pid" 2>/dev/null || true
keyd_pid=

echo "== DKMS builds the module from its package for Debian's kernel"
kver=$("$here/../../scripts/kernel-version.sh")
tree=$work/dkms
mkdir -p "$tree"
src=$root/usr/src/$(basename "$(ls -d "$root"/usr/src/vhsm-transport-*)")
dkms build -m vhsm-transport -v "$(basename "$src" | sed 's/^vhsm-transport-//')" -k "$kver" \
  --dkmstree "$tree" --sourcetree "$root/usr/src" >"$work/dkms.log" 2>&1 ||
  { tail -30 "$work/dkms.log"; fail "dkms build"; }
ko=$(find "$tree" -name 'vhsm_transport.ko*' | head -n1)
[ -n "$ko" ] || fail "dkms built no vhsm_transport.ko"
grep -q "^$kver " <<<"$(modinfo -F vermagic "$ko")" || fail "module built for the wrong kernel"
echo "   $(basename "$ko") for $kver"
echo "test_packages: all checks passed"
