#!/usr/bin/env bash
# keel-check on the shipped examples, in one of four modes:
#   valid     each file exits 0 and says "<file>: ok (N dependencies)"
#   explain   --explain output loads back (exit 0) and explains to the same text
#   schedule  --schedule runs on each file's first dependency, twice the same
#   usage     usage errors exit 2, --help exits 0, an unknown dependency exits 1
#
#   tests/tools/keel_check_examples.sh MODE KEEL_CHECK FILE...
set -uo pipefail

mode="${1:?usage: keel_check_examples.sh valid|explain|schedule|usage KEEL_CHECK FILE...}"
keel_check="${2:?usage: keel_check_examples.sh MODE KEEL_CHECK FILE...}"
shift 2
[[ $# -gt 0 ]] || { echo "check_examples: no files" >&2; exit 1; }

# ${tmp}, fail() and ${failed}.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The first key under the top-level `dependencies:` of a file.
first_dependency() {
    awk '/^dependencies:/ { inside = 1; next }
         inside && /^[^ #]/ { exit }
         inside && /^  [^ #][^:]*:/ { sub(/^  /, ""); sub(/:.*/, ""); gsub(/"/, ""); print; exit }' "$1"
}

expect_status() { # want, description, command...
    local want="$1" what="$2"
    shift 2
    "$@" >"${tmp}/out" 2>"${tmp}/err"
    local got=$?
    if [[ ${got} -ne ${want} ]]; then
        fail "${what}: exit status ${got}, want ${want}"
        cat "${tmp}/out" "${tmp}/err" >&2
        return 1
    fi
}

for file in "$@"; do
    case "${mode}" in
    valid)
        expect_status 0 "${file}" "${keel_check}" "${file}" || continue
        grep -Eqx "${file//./[.]}: ok \([1-9][0-9]* dependenc(y|ies)\)" "${tmp}/out" ||
            { fail "${file}: no ok line"; cat "${tmp}/out" >&2; continue; }
        echo "ok   ${file}: valid"
        ;;
    explain)
        expect_status 0 "--explain ${file}" "${keel_check}" --explain "${file}" || continue
        cp "${tmp}/out" "${tmp}/explained.yaml"
        expect_status 0 "keel-check on the --explain output of ${file}" \
            "${keel_check}" "${tmp}/explained.yaml" || { cat "${tmp}/explained.yaml" >&2; continue; }
        expect_status 0 "--explain of the --explain output of ${file}" \
            "${keel_check}" --explain "${tmp}/explained.yaml" || continue
        # Comments (the header names the source file) may differ.
        if ! diff -u <(grep -v '^#' "${tmp}/explained.yaml") <(grep -v '^#' "${tmp}/out") \
            >"${tmp}/diff"; then
            fail "${file}: explaining the explanation changed it:"
            cat "${tmp}/diff" >&2
            continue
        fi
        dep="$(first_dependency "${file}")"
        expect_status 0 "--explain ${file} ${dep}" "${keel_check}" --explain "${file}" "${dep}" ||
            continue
        echo "ok   ${file}: --explain loads back"
        ;;
    schedule)
        dep="$(first_dependency "${file}")"
        [[ -n "${dep}" ]] || { fail "${file}: no dependency found"; continue; }
        expect_status 0 "--schedule ${file} ${dep}" \
            "${keel_check}" --schedule "${file}" "${dep}" --seed 7 || continue
        cp "${tmp}/out" "${tmp}/first"
        grep -q '^worst-case time to give up: ' "${tmp}/first" ||
            { fail "${file}: no worst-case line"; cat "${tmp}/first" >&2; continue; }
        grep -q '^max calls per request: [0-9][0-9]*$' "${tmp}/first" ||
            { fail "${file}: no max-calls line"; cat "${tmp}/first" >&2; continue; }
        expect_status 0 "--schedule ${file} ${dep} again" \
            "${keel_check}" --schedule "${file}" "${dep}" --seed=7 || continue
        cmp -s "${tmp}/first" "${tmp}/out" || { fail "${file}: the same seed gave another schedule"; continue; }
        echo "ok   ${file}: --schedule ${dep}"
        sed 's/^/     /' "${tmp}/first"
        ;;
    usage)
        dep="$(first_dependency "${file}")"
        expect_status 2 "no arguments" "${keel_check}"
        expect_status 2 "unknown option" "${keel_check}" --frobnicate "${file}"
        expect_status 2 "--schedule without a dependency" "${keel_check}" --schedule "${file}"
        expect_status 2 "--seed without --schedule" "${keel_check}" --seed 3 "${file}"
        expect_status 2 "--seed that is not a number" \
            "${keel_check}" --schedule "${file}" "${dep}" --seed x
        expect_status 2 "--explain and --schedule" "${keel_check}" --explain --schedule "${file}" "${dep}"
        expect_status 0 "--help" "${keel_check}" --help &&
            { grep -q '^usage: keel-check' "${tmp}/out" || fail "--help prints no usage"; }
        expect_status 1 "--schedule with an unknown dependency" \
            "${keel_check}" --schedule "${file}" no-such-dependency &&
            { grep -q "no dependency named 'no-such-dependency'" "${tmp}/err" ||
                fail "unknown dependency: unclear message: $(cat "${tmp}/err")"; }
        expect_status 1 "--explain with an unknown dependency" \
            "${keel_check}" --explain "${file}" no-such-dependency
        expect_status 1 "a missing file" "${keel_check}" "${file}.does-not-exist"
        echo "ok   usage checks with ${file}"
        break
        ;;
    *)
        echo "check_examples: unknown mode '${mode}'" >&2
        exit 2
        ;;
    esac
done

[[ ${failed} -eq 0 ]]
