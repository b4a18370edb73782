#!/usr/bin/env python3
"""Fails when a source file includes a module its folder may not depend on.

Every in-tree include names its module ("keyd/crypto/aes_gcm.hpp"), so the dependency rules
each folder's README states can be checked from the text alone. The CMake targets enforce the
same rules at link time; this catches an include of a header-only piece, which links anyway.
"""
import pathlib
import re
import sys

# module -> the modules its files may include (besides its own). "api" is <vhsm/...>, the
# client library's installed headers, which anything may include.
ALLOWED = {
    "protocol": set(),
    "store": set(),
    "keyd/base": set(),
    "keyd/crypto": {"keyd/base", "store"},
    "keyd/audit": {"keyd/base", "store", "protocol"},
    "keyd/service": {"keyd/crypto", "keyd/audit", "keyd/base", "store", "protocol"},
    "keyd/transport": {"keyd/service", "keyd/base", "protocol"},
    "keyd": {"keyd/transport", "keyd/service", "keyd/crypto", "keyd/audit", "keyd/base",
             "store", "protocol"},
    "client": {"protocol"},
    "provider": set(),
    "pkcs11": set(),
    "tools": {"protocol"},
    "bench": {"pkcs11", "store"},  # the PKCS#11 module's header; the etcd client
    "tests": None,  # tests reach into every layer on purpose
}
MODULES = sorted(ALLOWED, key=len, reverse=True)


def module_of(path):
    for m in MODULES:
        if path == m or path.startswith(m + "/"):
            return m
    return None


def main(root):
    root = pathlib.Path(root)
    bad = []
    for f in sorted(root.rglob("*")):
        if f.suffix not in (".cpp", ".hpp", ".h") or not f.is_file():
            continue
        rel = f.relative_to(root).as_posix()
        mine = module_of(rel)
        if mine is None or ALLOWED[mine] is None:
            continue
        for n, line in enumerate(f.read_text().splitlines(), 1):
            m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
            if not m:
                continue
            theirs = module_of(m.group(1))
            if theirs is None:
                bad.append(f"{rel}:{n}: include \"{m.group(1)}\" does not name a module")
            elif theirs != mine and theirs not in ALLOWED[mine]:
                bad.append(f"{rel}:{n}: {mine} may not depend on {theirs}")
    for b in bad:
        print(b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).parent.parent))
