#!/usr/bin/env bash
# Prints the path of a clean Debian 12 (bookworm) root filesystem, made once with debootstrap
# and kept in a cache outside the checkout (VHSM_CACHE, default /var/cache/vhsm-tests): about
# 80 s and 190 MB the first time, nothing after. The mirror is the one this machine's apt uses,
# read at run time. Callers copy the tree; they never change the cached one.
set -euo pipefail
cache=${VHSM_CACHE:-/var/cache/vhsm-tests}
dir=$cache/bookworm-minbase
if [ -f "$dir/.complete" ]; then
  echo "$dir"
  exit 0
fi
mirror=$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null |
         awk '(/^URIs:/ || /^deb /) && !/security/ && !m {m = $2} END {print m}' || true)
[ -n "$mirror" ] || { echo "rootfs: no Debian mirror in this machine's apt sources" >&2; exit 1; }
mkdir -p "$cache"
rm -rf "$dir.tmp"
debootstrap --variant=minbase bookworm "$dir.tmp" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
  { tail -20 "$cache/debootstrap.log" >&2; exit 1; }
# The same sources as the host's, so apt inside resolves dependencies from the same mirror.
rm -f "$dir.tmp/etc/apt/sources.list"
cp /etc/apt/sources.list.d/*.sources "$dir.tmp/etc/apt/sources.list.d/" 2>/dev/null || true
if [ -f /etc/apt/sources.list ]; then cp /etc/apt/sources.list "$dir.tmp/etc/apt/sources.list"; fi
touch "$dir.tmp/.complete"
mv "$dir.tmp" "$dir"
echo "$dir"
