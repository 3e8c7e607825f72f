#!/usr/bin/env bash
# keel-sim as a user runs it, checked against files next to each scenario.
# Run from the repository root (ctest does): diagnostics name the relative
# paths passed on the command line.
#
#   check.sh scenario KEEL_SIM tests/sim/scenarios/X.yaml
#       exit 0; the JSON equals X.json byte for byte; the trace equals X.csv
#   check.sh broken KEEL_SIM tests/sim/broken/X.yaml
#       exit 1, nothing on stdout, stderr equals X.expected
#   check.sh determinism KEEL_SIM tests/sim/scenarios/X.yaml
#       the same seed twice: the same JSON, trace, summary and plot; --seed
#       with another value: other jittered start times
set -uo pipefail

mode="${1:?usage: check.sh scenario|broken|determinism KEEL_SIM FILE.yaml}"
keel_sim="${2:?KEEL_SIM}"
file="${3:?FILE.yaml}"
base="${file%.yaml}"

# ${tmp}, removed on exit, and fail(), counted in ${failed}.
source "$(dirname "$0")/../tools/lib.sh"
same() { # want got what
    if ! diff -u "$1" "$2" >"${tmp}/diff"; then
        fail "${file}: $3 differs from $1 (--- want, +++ got):"
        cat "${tmp}/diff" >&2
    fi
}

case "${mode}" in
scenario)
    "${keel_sim}" "${file}" --json "${tmp}/out.json" --trace "${tmp}/out.csv" >"${tmp}/stdout" \
        2>"${tmp}/stderr"
    status=$?
    [[ ${status} -eq 0 ]] || fail "${file}: exit status ${status}, want 0: $(cat "${tmp}/stderr")"
    [[ -s "${tmp}/stdout" ]] || fail "${file}: no summary on stdout"
    same "${base}.json" "${tmp}/out.json" "the JSON"
    if [[ -f "${base}.csv" ]]; then
        same "${base}.csv" "${tmp}/out.csv" "the trace"
    fi
    ;;
broken)
    "${keel_sim}" "${file}" >"${tmp}/stdout" 2>"${tmp}/stderr"
    status=$?
    [[ ${status} -eq 1 ]] || fail "${file}: exit status ${status}, want 1"
    [[ ! -s "${tmp}/stdout" ]] || fail "${file}: unexpected output on stdout: $(cat "${tmp}/stdout")"
    same "${base}.expected" "${tmp}/stderr" "stderr"
    ;;
determinism)
    for run in a b; do
        "${keel_sim}" "${file}" --json "${tmp}/${run}.json" --trace "${tmp}/${run}.csv" \
            --plot "${tmp}/${run}.svg" >"${tmp}/${run}.txt" || fail "${file}: run ${run} failed"
    done
    for out in json csv svg txt; do
        cmp -s "${tmp}/a.${out}" "${tmp}/b.${out}" || fail "${file}: the same seed gave different ${out}"
    done
    seed=$(sed -n 's/.*"seed": \([0-9]*\).*/\1/p' "${tmp}/a.json")
    other=$((seed + 1))
    "${keel_sim}" "${file}" --seed "${other}" --json "${tmp}/c.json" --trace "${tmp}/c.csv" \
        >/dev/null || fail "${file}: the run with --seed ${other} failed"
    grep -q "\"seed\": ${other}," "${tmp}/c.json" || fail "${file}: --seed ${other} is not in the JSON"
    # Retries' start times: jitter moved them.
    retries() { awk -F, 'NR > 1 && $2 > 1 { print $3 }' "$1"; }
    [[ -n "$(retries "${tmp}/a.csv")" ]] || fail "${file}: the scenario makes no retries to compare"
    if [[ "$(retries "${tmp}/a.csv")" == "$(retries "${tmp}/c.csv")" ]]; then
        fail "${file}: seeds ${seed} and ${other} gave the same retry start times"
    fi
    ;;
*)
    echo "check.sh: unknown mode ${mode}" >&2
    exit 2
    ;;
esac

[[ ${failed} -eq 0 ]] && echo "ok   ${mode} ${file}"
[[ ${failed} -eq 0 ]]
