#!/usr/bin/env bash
# The docs' shell blocks (docs/snippets/*.sh), run from the repository root:
# each file parses (bash -n, nothing runs), every repository script a block
# runs exists, and every keel-check command a block shows is one of the
# usage lines of `keel-check --help` (when its path is given).
#
#   tests/docs/check_shell_blocks.sh [path/to/keel-check]
set -uo pipefail

keel_check=${1:-}
status=0

for file in docs/snippets/*.sh; do
    bash -n "$file" || status=1
    for script in $(grep -oE '(^|[[:space:]])scripts/[A-Za-z0-9_-]+' "$file" | tr -d ' \t' | sort -u); do
        if [[ ! -x $script ]]; then
            echo "$file: runs $script, which is not an executable script" >&2
            status=1
        fi
    done
done

if [[ -n $keel_check ]]; then
    usage=$("$keel_check" --help | sed -n 's/^\(usage:\)\{0,1\} *\(keel-check .*\)$/\2/p')
    while IFS= read -r line; do
        command=$(sed 's/ *#.*$//; s/ *$//' <<<"$line")
        if ! grep -qxF -- "$command" <<<"$usage"; then
            echo "docs/snippets: '$command' is not a usage line of keel-check --help" >&2
            status=1
        fi
    done < <(grep -hE '^keel-check ' docs/snippets/*.sh)
fi

exit $status
