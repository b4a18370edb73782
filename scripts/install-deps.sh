#!/usr/bin/env bash
# Installs every Debian 12 package vhsm builds, tests and demos with. Idempotent; needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(
  build-essential cmake pkg-config clang libclang-rt-14-dev clang-format
  libssl-dev openssl libcrypto++-dev liblmdb-dev lmdb-utils capnproto libcapnp-dev
  catch2 libcli11-dev nlohmann-json3-dev libcurl4-openssl-dev iproute2 util-linux
  etcd-server etcd-client
  nginx-light curl python3 softhsm2 libp11-kit-dev opensc gnuplot-nox valgrind
  gnutls-bin libnss3-tools openssh-client openssh-server openjdk-17-jdk-headless
  qemu-system-x86 busybox-static cpio kmod
  podman runc debootstrap lintian dkms systemd
)
# The kernel module's VM test: Debian's current kernel image and its headers, one ABI.
if ! kver=$(scripts/kernel-version.sh 2>/dev/null); then
  apt-get update -qq
  kver=$(scripts/kernel-version.sh)
fi
packages+=("linux-image-$kver" "linux-headers-$kver")
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing ${missing[*]}; run as root" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
export INITRD=No  # the VM test boots the kernel with its own initramfs
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
# The tests and benches start etcd members of their own on free loopback ports; the package's
# own service (a member on 127.0.0.1:2379) is not needed on a development machine.
if [[ " ${missing[*]} " == *" etcd-server "* ]] && [ -d /run/systemd/system ]; then
  systemctl disable --now etcd.service >/dev/null 2>&1 || true
fi
