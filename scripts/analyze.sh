#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# analyze.sh - clang's static analyzer (scan-build) over deskpoold and
# deskpoolctl in a build directory of its own (default build-analyze/).
# Exits non-zero on any report: the code base is kept at zero.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
dir=${ANALYZE_DIR:-$top/build-analyze}
command -v scan-build >/dev/null || { echo "analyze: scan-build missing (apt-get install clang-tools)"; exit 1; }
[ -x "$top/configure" ] || (cd "$top" && ./autogen.sh >/dev/null 2>&1)
rm -rf "$dir"
mkdir -p "$dir"
cd "$dir"
scan-build -o "$dir/reports" "$top/configure" --sysconfdir=/etc --localstatedir=/var >/dev/null
scan-build -o "$dir/reports" --status-bugs make -j"$(nproc)" 2>&1 | grep -E 'warning:|scan-build:'
