#!/usr/bin/env bash
# Prints the path of a clean Debian 12 (bookworm) root filesystem, made once with debootstrap
# and kept in a cache outside the checkout (VHSM_CACHE, default /var/cache/vhsm-tests): about
# 30 s the first time, nothing after. The mirror is the one this machine's apt uses, read at
# run time. `rootfs.sh web` prints the same root with nginx-light, openssl and curl added (a
# container image's base). Callers mount it under an overlay; they never change it.
set -euo pipefail
cache=${VHSM_CACHE:-/var/cache/vhsm-tests}
flavour=${1:-minbase}
dir=$cache/bookworm-$flavour
if [ -f "$dir/.complete" ]; then
  echo "$dir"
  exit 0
fi
mkdir -p "$cache"
rm -rf "$dir.tmp"
if [ "$flavour" = minbase ]; then
  mirror=$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null |
           awk '(/^URIs:/ || /^deb /) && !/security/ && !m {m = $2} END {print m}' || true)
  [ -n "$mirror" ] || { echo "rootfs: no Debian mirror in this machine's apt sources" >&2; exit 1; }
  debootstrap --variant=minbase bookworm "$dir.tmp" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
    { tail -20 "$cache/debootstrap.log" >&2; exit 1; }
  # The host's sources, so apt inside resolves dependencies from the same mirror.
  rm -f "$dir.tmp/etc/apt/sources.list"
  cp /etc/apt/sources.list.d/*.sources "$dir.tmp/etc/apt/sources.list.d/" 2>/dev/null || true
  if [ -f /etc/apt/sources.list ]; then cp /etc/apt/sources.list "$dir.tmp/etc/apt/sources.list"; fi
elif [ "$flavour" = web ]; then
  base=$("$0")
  cp -a "$base" "$dir.tmp"
  rm -f "$dir.tmp/.complete"
  cp /etc/resolv.conf "$dir.tmp/etc/resolv.conf"
  mount -t proc proc "$dir.tmp/proc"
  trap 'umount "$dir.tmp/proc" 2>/dev/null || true' EXIT
  { chroot "$dir.tmp" apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive chroot "$dir.tmp" apt-get install -y -qq \
      --no-install-recommends nginx-light openssl curl && chroot "$dir.tmp" apt-get clean; } \
    >"$cache/rootfs-web.log" 2>&1 || { tail -20 "$cache/rootfs-web.log" >&2; exit 1; }
  umount "$dir.tmp/proc"
  trap - EXIT
else
  echo "rootfs: unknown flavour $flavour (minbase or web)" >&2
  exit 2
fi
touch "$dir.tmp/.complete"
mv "$dir.tmp" "$dir"
echo "$dir"
