#!/usr/bin/env bash
# Prints the Debian kernel ABI the module is built and tested against: the one that
# linux-headers-amd64 depends on (e.g. 6.1.0-57-amd64). Fails when apt knows of none.
set -euo pipefail
kver=$(apt-cache depends linux-headers-amd64 2>/dev/null |
  sed -n 's/.*Depends: linux-headers-\(.*-amd64\)$/\1/p' | head -1)
[ -n "$kver" ] || { echo "kernel-version: apt knows no linux-headers-amd64" >&2; exit 1; }
echo "$kver"
