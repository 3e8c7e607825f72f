#!/usr/bin/env bash
# Runs keel-check on every tests/config/broken/*.yaml: each must exit 1 and
# print to stderr exactly the lines of the .expected file next to it.
# Run from the repository root (ctest does): the paths in the diagnostics are
# the relative paths passed on the command line.
#
#   tests/tools/keel_check_broken.sh build/release/tools/keel-check/keel-check
set -uo pipefail

keel_check="${1:?usage: keel_check_broken.sh KEEL_CHECK}"
dir="tests/config/broken"

# Some files rely on variables being unset; make sure the caller's
# environment cannot hide a mistake.
unset KEEL_BROKEN_UNSET_DSN KEEL_BROKEN_UNSET_URL

tmp="$(mktemp -d "${TMPDIR:-/tmp}/keel-check-broken.XXXXXX")"
trap 'rm -rf "${tmp}"' EXIT

shopt -s nullglob
files=("${dir}"/*.yaml)
if [[ ${#files[@]} -eq 0 ]]; then
    echo "check_broken: no ${dir}/*.yaml" >&2
    exit 1
fi

failed=0
for file in "${files[@]}"; do
    expected="${file%.yaml}.expected"
    if [[ ! -f "${expected}" ]]; then
        echo "FAIL ${file}: no ${expected}" >&2
        failed=$((failed + 1))
        continue
    fi
    "${keel_check}" "${file}" >"${tmp}/out" 2>"${tmp}/err"
    status=$?
    if [[ ${status} -ne 1 ]]; then
        echo "FAIL ${file}: exit status ${status}, want 1" >&2
        cat "${tmp}/err" >&2
        failed=$((failed + 1))
        continue
    fi
    if [[ -s "${tmp}/out" ]]; then
        echo "FAIL ${file}: unexpected output on stdout:" >&2
        cat "${tmp}/out" >&2
        failed=$((failed + 1))
        continue
    fi
    if ! diff -u "${expected}" "${tmp}/err" >"${tmp}/diff"; then
        echo "FAIL ${file}: stderr differs from ${expected} (--- want, +++ got):" >&2
        cat "${tmp}/diff" >&2
        failed=$((failed + 1))
        continue
    fi
    echo "ok   ${file} ($(wc -l <"${expected}") diagnostics)"
done

echo "${#files[@]} files, ${failed} failed"
[[ ${failed} -eq 0 ]]
