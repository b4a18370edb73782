#!/usr/bin/env bash
# The deployment tests: the Debian packages (built by scripts/package.sh), keyd under its
# unit's limits, and keyd serving podman containers through the OCI hook. Root filesystems and
# downloaded packages are cached outside the checkout (VHSM_CACHE, default
# /var/cache/vhsm-tests). Usage: tests/deploy/run.sh RELEASE_BUILD_DIR
set -euo pipefail
here=$(dirname "$(realpath "$0")")
build=$(realpath "$1")
packages=$(realpath -m "$here/../../build-package")
status=0
run() {
  echo "--- $*"
  local start=$SECONDS
  "$@" || { echo "FAILED: $*"; status=1; }
  echo "--- $(($SECONDS - start)) s"
}
"$here/../../scripts/package.sh" "$packages"
run "$here/test_packages.sh" "$packages"
run "$here/test_hardened_keyd.sh" "$build"
run "$here/test_status.sh" "$build"
run "$here/test_audit_syslog.sh" "$build"
run "$here/test_podman.sh" "$build" "$packages"
exit $status
