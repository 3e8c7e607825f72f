# shellcheck shell=bash
# Shared by the tests/tools scripts; source it. A temporary directory
# ${tmp}, removed on exit, and fail(), which reports one expectation that did
# not hold and counts it in ${failed}.
tmp="$(mktemp -d "${TMPDIR:-/tmp}/keel-tools-test.XXXXXX")"
trap 'rm -rf "${tmp}"' EXIT
failed=0

fail() {
    echo "FAIL $*" >&2
    failed=$((failed + 1))
}
