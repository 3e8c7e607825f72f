#!/usr/bin/env bash
# The simulator page's scenarios (docs/snippets/simulator/*.yaml), run from
# the repository root with keel-sim's path: every scenario runs; the worked
# example prints exactly the summary the page shows (payments-outage.expected)
# and draws exactly the plot the page shows (docs/simulator/payments-outage.svg).
#
#   tests/docs/check_scenario_blocks.sh path/to/keel-sim
set -uo pipefail

keel_sim=${1:?usage: $0 path/to/keel-sim}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/keel-docs-sim.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
status=0

for file in docs/snippets/simulator/*.yaml; do
    if ! "$keel_sim" "$file" --json "$tmp/out.json" >"$tmp/out.txt" 2>"$tmp/err.txt"; then
        echo "$file: keel-sim failed:" >&2
        cat "$tmp/err.txt" >&2
        status=1
    fi
done

example=docs/snippets/simulator/payments-outage
"$keel_sim" "$example.yaml" --plot "$tmp/plot.svg" >"$tmp/summary.txt" || status=1
diff -u "$example.expected" "$tmp/summary.txt" || status=1
if ! cmp -s docs/simulator/payments-outage.svg "$tmp/plot.svg"; then
    echo "docs/simulator/payments-outage.svg is not the plot keel-sim draws now: run" >&2
    echo "  keel-sim $example.yaml --plot docs/simulator/payments-outage.svg" >&2
    status=1
fi

exit $status
