#!/usr/bin/env bash
# The pages' keel-sim scenarios (docs/snippets/simulator/*.yaml), run from the
# repository root with keel-sim's path: every scenario runs; one with an
# X.expected beside it prints exactly that summary (the page shows it), and
# one whose plot the pages show (docs/simulator/X.svg) draws exactly that plot.
#
#   tests/docs/check_scenario_blocks.sh path/to/keel-sim
set -uo pipefail

keel_sim=${1:?usage: $0 path/to/keel-sim}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/keel-docs-sim.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
status=0

for file in docs/snippets/simulator/*.yaml; do
    name=$(basename "$file" .yaml)
    if ! "$keel_sim" "$file" --plot "$tmp/$name.svg" >"$tmp/$name.txt" 2>"$tmp/err.txt"; then
        echo "$file: keel-sim failed:" >&2
        cat "$tmp/err.txt" >&2
        status=1
        continue
    fi
    expected=docs/snippets/simulator/$name.expected
    if [[ -f $expected ]]; then
        diff -u "$expected" "$tmp/$name.txt" || status=1
    fi
    plot=docs/simulator/$name.svg
    if [[ -f $plot ]] && ! cmp -s "$plot" "$tmp/$name.svg"; then
        echo "$plot is not the plot keel-sim draws now: run" >&2
        echo "  keel-sim $file --plot $plot" >&2
        status=1
    fi
done

exit $status
