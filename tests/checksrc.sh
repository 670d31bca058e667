#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# checksrc.sh - machine-checked house style (docs/STYLE.md, curl's checksrc):
# tabs, C++ comments, lines over 100 columns, trailing spaces, banned calls,
# a missing SPDX line. Exceptions are local: a line ending in
# "/* checksrc: ok */" is skipped.
top=${1:-$(cd "$(dirname "$0")/.." && pwd)}
status=0
report() { echo "$1:$2: $3"; status=1; }
for f in "$top"/orchestrator/*/*.[ch] "$top"/tests/*.h "$top"/tests/unit/*.c "$top"/tests/integration/*.c; do
    [ -f "$f" ] || continue
    rel=${f#"$top"/}
    head -n 1 "$f" | grep -q 'SPDX-License-Identifier' || report "$rel" 1 "missing SPDX line"
    awk -v f="$rel" '
        /checksrc: ok \*\/$/ { next }
        { line = $0 }
        /\t/ { print f ":" NR ": TAB"; bad = 1 }
        length(line) > 100 { print f ":" NR ": LONGLINE (" length(line) ")"; bad = 1 }
        / +$/ { print f ":" NR ": TRAILING SPACE"; bad = 1 }
        {
            # strip string literals, then look for // comments and banned calls
            s = line
            gsub(/"([^"\\]|\\.)*"/, "\"\"", s)
            gsub(/\/\*.*\*\//, "", s)
            # inside a block comment: nothing to check
            if (incomment) { if (s ~ /\*\//) { incomment = 0; sub(/^.*\*\//, "", s) } else next }
            if (s ~ /\/\*/) { incomment = 1; sub(/\/\*.*$/, "", s) }
            if (s ~ /(^|[^:])\/\//) { print f ":" NR ": CPPCOMMENT"; bad = 1 }
            if (s ~ /(^|[^a-z_])(sprintf|strcpy|strcat|strncpy|strtok|atoi|system|gets)[ ]*\(/ &&
                s !~ /(snprintf|vsnprintf|asprintf)/) { print f ":" NR ": BANNEDFUNC"; bad = 1 }
            if (s ~ /(^|[^a-z_._>])exit[ ]*\(/) { print f ":" NR ": BANNEDFUNC exit (return from main or _exit)"; bad = 1 }
        }
        END { exit bad }
    ' "$f" || status=1
done
[ $status -eq 0 ] && echo "checksrc: clean"
exit $status
