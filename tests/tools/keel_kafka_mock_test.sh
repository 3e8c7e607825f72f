#!/usr/bin/env bash
# keel-kafka-mock as a user runs it, in one of two modes:
#   usage     a bad option is a usage error (exit 2) naming the option;
#             --help exits 0 with the usage; a cluster starts, prints its
#             bootstrap address and stops when stdin closes (exit 0)
#   commands  commands on stdin are answered in order, one line each; a bad
#             one says why and the cluster keeps serving; EOF still stops it
#
#   tests/tools/keel_kafka_mock_test.sh MODE KEEL_KAFKA_MOCK
set -uo pipefail

mode="${1:?usage: keel_kafka_mock_test.sh usage|commands KEEL_KAFKA_MOCK}"
mock="${2:?usage: keel_kafka_mock_test.sh MODE KEEL_KAFKA_MOCK}"

# ${tmp}, fail() and ${failed}.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Runs the mock with stdin from the file $1 and the remaining arguments;
# stdout in ${tmp}/out, stderr in ${tmp}/err, the exit status in ${status}.
run_mock() {
    local input="$1"
    shift
    "${mock}" "$@" <"${input}" >"${tmp}/out" 2>"${tmp}/err"
    status=$?
}

expect_status() { # want, description
    if [[ ${status} -ne $1 ]]; then
        fail "$2: exit status ${status}, want $1"
        cat "${tmp}/out" "${tmp}/err" >&2
        return 1
    fi
}

case "${mode}" in
usage)
    run_mock /dev/null --brokers 0
    expect_status 2 "--brokers 0"
    grep -q -- '--brokers: expected 1..32' "${tmp}/err" ||
        fail "--brokers 0: the error does not name the option: $(cat "${tmp}/err")"

    run_mock /dev/null --help
    expect_status 0 "--help"
    grep -q '^usage: keel-kafka-mock' "${tmp}/out" || fail "--help prints no usage"

    run_mock /dev/null --brokers 2 --topic t:3
    expect_status 0 "a cluster of 2 brokers, stdin closed"
    grep -Eqx '127[.]0[.]0[.]1:[0-9]+,127[.]0[.]0[.]1:[0-9]+' "${tmp}/out" ||
        fail "a cluster of 2 brokers: no bootstrap line of 2 addresses: $(cat "${tmp}/out")"
    ;;
commands)
    printf 'rtt 1 5\nbogus\n\nerror 0 7,7\nerror 0 x\nbroker-down 3\nbroker-down 1\nbroker-up -1' \
        >"${tmp}/commands"
    run_mock "${tmp}/commands" --brokers 2
    expect_status 0 "commands, then EOF"
    # The first line is the bootstrap address; then one answer per command
    # (the empty line gets none).
    sed 1d "${tmp}/out" >"${tmp}/answers"
    cat >"${tmp}/expected" <<'ANSWERS'
ok
error: unknown command 'bogus' (error, broker-down, broker-up, rtt)
ok
error: 'x' is not a Kafka error code
error: Broker: Broker not available
ok
ok
ANSWERS
    diff -u "${tmp}/expected" "${tmp}/answers" >"${tmp}/diff" ||
        { fail "the answers differ from the expected ones:"; cat "${tmp}/diff" >&2; }
    ;;
*)
    echo "keel_kafka_mock_test: unknown mode '${mode}'" >&2
    exit 2
    ;;
esac

[[ ${failed} -eq 0 ]] && echo "ok   keel-kafka-mock ${mode}"
