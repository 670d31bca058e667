#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# build.sh - configure and build deskpool in DIR (default build/), warnings as errors.
# Extra arguments go to configure (e.g. --enable-sanitizers).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
dir=${BUILD_DIR:-$top/build}
[ -x "$top/configure" ] || (cd "$top" && ./autogen.sh >/dev/null 2>&1)
mkdir -p "$dir"
cd "$dir"
if [ ! -f Makefile ] || [ "$#" -gt 0 ]; then
    "$top/configure" --enable-werror --sysconfdir=/etc --localstatedir=/var "$@" >/dev/null
fi
make -j"$(nproc)" >/dev/null
echo "build: $dir"
