#!/usr/bin/env bash
# The docs' PromQL recipes (docs/snippets/*.promql), run from the repository
# root: every keel metric a query reads is one that keel::prometheus exports
# (a histogram's _bucket, _sum and _count series count as the histogram).
set -uo pipefail

exported=$(grep -rhoE '"keel_[a-z_]+"' src/prometheus | tr -d '"' | sort -u)
status=0
for file in docs/snippets/*.promql; do
    for series in $(grep -v '^ *#' "$file" | grep -oE '\bkeel_[a-z_]+' | sort -u); do
        metric=$(sed -E 's/_(bucket|sum|count)$//' <<<"$series")
        if ! grep -qxF "$metric" <<<"$exported"; then
            echo "$file: $series is not a metric keel::prometheus exports" >&2
            status=1
        fi
    done
done
exit $status
