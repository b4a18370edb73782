#!/usr/bin/env bash
# Builds Debian 13's OpenSSL 3.5 once into a private prefix outside the checkout and prints the
# prefix. The source comes from the machine's own Debian mirror: a deb-src line for suite
# "trixie" is derived from the configured apt sources at run time, so no mirror is named here.
# Cache: $VHSM_CACHE (default /var/cache/vhsm-tests)/openssl-3.5. Delete it to rebuild.
set -euo pipefail
cache=${VHSM_CACHE:-/var/cache/vhsm-tests}/openssl-3.5
prefix=$cache/prefix
if [ -x "$prefix/bin/openssl" ] && [ -f "$prefix/.complete" ]; then
  echo "$prefix"
  exit 0
fi
mkdir -p "$cache"
work=$(mktemp -d "$cache/work.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The first Debian archive URI among the configured sources, in either sources format.
uri=$( (grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}'
        grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list |
          sed -E 's/^deb (\[[^]]*\] )?//' | awk '{print $1}') 2>/dev/null |
      grep -v -- '-security' | head -n1 || true)
[ -n "$uri" ] || { echo "openssl35.sh: no Debian archive in the apt sources" >&2; exit 1; }

mkdir -p "$work/lists/partial" "$work/archives/partial"
echo "deb-src $uri trixie main" >"$work/sources.list"
apt_opts=(-o "Dir::Etc::sourcelist=$work/sources.list" -o Dir::Etc::sourceparts=- -o APT::Sandbox::User=root
          -o "Dir::State::Lists=$work/lists" -o APT::Get::List-Cleanup=0)
echo "openssl35.sh: fetching the trixie openssl source from $uri" >&2
apt-get "${apt_opts[@]}" update -qq >&2
# Newest first; a mirror sometimes no longer holds the newest listed version's files.
versions=$(apt-cache "${apt_opts[@]}" showsrc openssl | awk '/^Version:/ {print $2}' |
           sort -rV | uniq)
cd "$work"
fetched=
for v in $versions; do
  case $v in 3.5.*) ;; *) continue ;; esac
  if apt-get "${apt_opts[@]}" source --download-only -qq "openssl=$v" >&2; then
    fetched=$v
    break
  fi
done
[ -n "$fetched" ] || { echo "openssl35.sh: no openssl 3.5 source could be fetched" >&2; exit 1; }
tar -xf openssl_"${fetched%-*}".orig.tar.gz
src=$(find . -maxdepth 1 -type d -name 'openssl-3.5*' | head -n1)
echo "openssl35.sh: building $fetched into $prefix (a few minutes)" >&2
rm -rf "$prefix"
(cd "$src" &&
  # The rpath lets its openssl binary find its own libraries rather than the system's 3.0.
  ./Configure --prefix="$prefix" --libdir=lib no-tests no-docs shared \
    "-Wl,-rpath,$prefix/lib" >&2 &&
  make -j"$(nproc)" >/dev/null &&
  make install_sw install_ssldirs >/dev/null)
echo "$fetched" >"$prefix/.complete"
echo "$prefix"
