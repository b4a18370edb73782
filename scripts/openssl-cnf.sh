#!/usr/bin/env bash
# Prints an openssl.cnf that loads vhsm.so next to the default provider (docs/provider.md), for the
# scripts that need one (bench, valgrind). Usage:
#   scripts/openssl-cnf.sh MODULE SOCKET USER [PASSWORD_FILE] [--prefer]
# Without PASSWORD_FILE (or with "") the provider logs in through an unlock; --prefer adds
# default_properties = ?provider=vhsm.
set -euo pipefail
module=$1 socket=$2 user=$3 password_file=${4:-} prefer=${5:-}
echo "openssl_conf = openssl_init"
echo "[openssl_init]"
echo "providers = provider_sect"
if [ "$prefer" = --prefer ]; then
  echo "alg_section = evp_properties"
  echo "[evp_properties]"
  echo "default_properties = ?provider=vhsm"
fi
cat <<CNF
[provider_sect]
default = default_sect
vhsm = vhsm_sect
[default_sect]
activate = 1
[vhsm_sect]
module = $module
activate = 1
socket = $socket
user = $user
CNF
[ -n "$password_file" ] && echo "password-file = $password_file"
exit 0
