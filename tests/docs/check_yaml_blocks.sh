#!/usr/bin/env bash
# The docs' policy blocks (docs/snippets/**/*.yaml but simulator/), run from the repository
# root with keel-check's path: every file loads, except the one that shows
# the errors, which fails with exactly the diagnostics its page prints after
# it (many.expected); the page's `keel-check --explain` output is what
# keel-check prints (orders-explained.yaml).
#
#   tests/docs/check_yaml_blocks.sh path/to/keel-check
set -uo pipefail

keel_check=${1:?usage: $0 path/to/keel-check}
keel_check=$(realpath "$keel_check")
# The pages' files read secrets and addresses from the environment.
export ORDERS_DB_DSN=host=db PAYMENTS_TOKEN=token KAFKA_BOOTSTRAP=broker:9092
status=0

# Scenarios for keel-sim are not policy files: check_scenario_blocks.sh runs them.
mapfile -t files < <(find docs/snippets -name '*.yaml' ! -name many.yaml ! -path '*/simulator/*' |
    sort)
"$keel_check" "${files[@]}" >/dev/null || status=1

cd docs/snippets/configuration || exit 1
if errors=$("$keel_check" many.yaml 2>&1); then
    echo "many.yaml: keel-check accepted the file that shows the errors" >&2
    status=1
fi
diff many.expected - <<<"$errors" || status=1
"$keel_check" --explain orders.yaml | diff orders-explained.yaml - || status=1

exit $status
