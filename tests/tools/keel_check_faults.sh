#!/usr/bin/env bash
# keel-check on `faults:` and `fallback:` (issue 25): a file with fault rules
# is valid but warned of, once per dependency that has them, at that
# dependency; --explain shows the rules (with their seed, so the output
# replays the same injections) and the fallback's classes; a file without
# rules gets no warning.
#
#   tests/tools/keel_check_faults.sh KEEL_CHECK
set -uo pipefail

keel_check="$(realpath "${1:?usage: keel_check_faults.sh KEEL_CHECK}")"

# ${tmp}, fail() and ${failed}.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "${tmp}" || exit 1

cat >faults.yaml <<'YAML'
version: 1
dependencies:
  orders-db:
    kind: postgres
    faults:
      seed: 7
      rules:
        - { kind: latency, rate: 0.05, delay: 300ms }
        - { kind: error, rate: 1.0, error: connection_refused, endpoint: "10.0.0.5:5432" }
    fallback: { on: [timeout, rejected] }
  prices:
    kind: http
    fallback: { on: [transient] }
YAML
# The same file without its rules.
grep -Ev '^    faults:|^      (seed|rules):|^        - \{ kind' faults.yaml >plain.yaml

warning="warning: dependencies.orders-db.faults: fault injection rules: they fail, slow or hang real calls in any process that runs with KEEL_FAULTS=1 or enables injection"

# A file with fault rules: valid (exit 0), and exactly one warning, at orders-db.
if "${keel_check}" faults.yaml >out 2>err; then
    grep -qx 'faults.yaml: ok (2 dependencies)' out || fail "faults.yaml: no ok line: $(cat out)"
    [[ "$(cat err)" == "faults.yaml:3:3: ${warning}" ]] ||
        fail "faults.yaml: want the one warning 'faults.yaml:3:3: ${warning}', got: $(cat err)"
else
    fail "faults.yaml: exit status $?, want 0: $(cat out err)"
fi

# --explain shows the rules and the fallbacks, and warns as well.
if "${keel_check}" --explain faults.yaml >explained.yaml 2>err; then
    for line in '    faults:' '      seed: 7' '      rules:' \
        '        - {kind: latency, rate: 0.05, delay: 300ms}' \
        '        - {kind: error, rate: 1.0, error: connection_refused, endpoint: 10.0.0.5:5432}' \
        '    fallback: {on: [timeout, rejected]}' '    fallback: {on: [transient]}'; do
        grep -qxF -- "${line}" explained.yaml || fail "--explain faults.yaml: no line '${line}'"
    done
    grep -qF "faults.yaml:3:3: ${warning}" err || fail "--explain faults.yaml: no warning: $(cat err)"
    # What --explain prints still has the rules: checking it warns again.
    "${keel_check}" explained.yaml >out 2>err || fail "explained.yaml: exit status $?, want 0"
    grep -qE "^explained.yaml:[0-9]+:3: ${warning}$" err ||
        fail "explained.yaml: no warning: $(cat err)"
else
    fail "--explain faults.yaml: exit status $?, want 0: $(cat explained.yaml err)"
fi

# Without rules: no warning, and --explain shows no faults.
"${keel_check}" plain.yaml >out 2>err || fail "plain.yaml: exit status $?, want 0: $(cat out err)"
[[ ! -s err ]] || fail "plain.yaml: want no warning, got: $(cat err)"
"${keel_check}" --explain plain.yaml >explained.yaml 2>err ||
    fail "--explain plain.yaml: exit status $?, want 0"
! grep -qE '^ *faults:' explained.yaml || fail "--explain plain.yaml shows faults"
grep -qxF '    fallback: {on: [timeout, rejected]}' explained.yaml ||
    fail "--explain plain.yaml: no fallback of orders-db"

[[ ${failed} -eq 0 ]] && echo "ok   keel-check: faults warned of, faults and fallback explained"
[[ ${failed} -eq 0 ]]
