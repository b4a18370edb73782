#!/usr/bin/env bash
# Fails when a loadable module exports a function other than its entry points (the client
# library it links in must stay inside it). Weak symbols are C++ templates every copy defines
# alike (a debug build emits some from the standard library) and are not counted.
# Usage: check_exports.sh LIBRARY SYMBOL...
set -euo pipefail
library=$1
shift
exported=$(nm -D --defined-only "$library" | awk '$2 == "T" {print $3}' | sort)
expected=$(printf '%s\n' "$@" | sort)
if [ "$exported" != "$expected" ]; then
  echo "$library exports:"
  diff <(echo "$expected") <(echo "$exported") | sed -n 's/^> /  unexpected: /p; s/^< /  missing: /p'
  exit 1
fi
echo "$library exports only: $*"
