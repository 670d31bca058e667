#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# run.sh - the documentation cannot drift from the code: every
# configuration key deskpoold knows has a row in docs/config.md (and every
# row names a key it knows), and every option of deskpoold --help and of
# deskpoolctl --help is in its man page.
. "$(dirname "$0")/../lib.sh"
t_require_binaries

doc=$DP_SRCDIR/docs/config.md
keys=$("$DESKPOOLD" --print-config --config /dev/null 2>/dev/null | sed -n 's/^\([a-z_]*\) = .*/\1/p')
[ -n "$keys" ] || fail_now "deskpoold --print-config printed no keys"
for k in $keys; do
    check "config key '$k' is documented in docs/config.md" grep -q "^| \`$k\` |" "$doc"
done
for k in $(sed -n 's/^| `\([a-z_]*\)` |.*/\1/p' "$doc"); do
    check "docs/config.md row '$k' is a key deskpoold knows" grep -qx "$k" <<<"$keys"
done
for opt in $("$DESKPOOLD" --help | grep -oE -- '--[a-z][a-z-]+' | sort -u); do
    man_opt=${opt//-/\\\\-}
    check "deskpoold $opt is in docs/deskpoold.1" grep -q -- "$man_opt" "$DP_SRCDIR/docs/deskpoold.1"
done
for opt in $("$DESKPOOLCTL" --help | grep -oE -- '--[a-z][a-z-]+' | sort -u); do
    man_opt=${opt//-/\\\\-}
    check "deskpoolctl $opt is in docs/deskpoolctl.1" grep -q -- "$man_opt" "$DP_SRCDIR/docs/deskpoolctl.1"
done
GATEWAY=${DESKPOOL_GATEWAY:-$DP_BUILDDIR/deskpool-gateway}
for opt in $("$GATEWAY" --help | grep -oE -- '--[a-z][a-z-]+' | sort -u); do
    man_opt=${opt//-/\\\\-}
    check "deskpool-gateway $opt is in docs/deskpool-gateway.8" grep -q -- "$man_opt" "$DP_SRCDIR/docs/deskpool-gateway.8"
    check "deskpool-gateway $opt is in docs/gateway.md" grep -q -- "$opt" "$DP_SRCDIR/docs/gateway.md"
done
