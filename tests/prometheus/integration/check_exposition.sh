#!/usr/bin/env bash
# keel-metrics-example --print | promtool check metrics, and every keel metric
# is in the exposition with the label values docs/metrics.md promises.
set -euo pipefail
example="$1"
promtool="$2"

text="$("${example}" --print)"
# promtool prints lint problems and exits non-zero on any of them.
if ! printf '%s\n' "${text}" | "${promtool}" check metrics; then
    echo "check_exposition: promtool rejected the exposition" >&2
    exit 1
fi

missing=0
expect() {
    if ! grep -qF -- "$1" <<<"${text}"; then
        echo "check_exposition: missing: $1" >&2
        missing=1
    fi
}
for outcome in success success_after_retry failure failure_after_retry timeout cancelled rejected fallback; do
    expect "keel_calls_total{dependency=\"orders-db\",outcome=\"${outcome}\"}"
done
for result in success failure timeout; do
    expect "keel_attempts_total{dependency=\"payments-http\",result=\"${result}\"}"
done
for reason in transient timeout throttled permanent rejected; do
    expect "keel_retries_total{dependency=\"events-kafka\",reason=\"${reason}\"}"
done
for phase in connect exchange total; do
    expect "keel_timeouts_total{dependency=\"events-kafka\",phase=\"${phase}\"}"
done
for reason in circuit_open bulkhead_full bulkhead_timeout rate_limited retry_budget_exhausted throttled_locally; do
    expect "keel_rejections_total{dependency=\"orders-db\",reason=\"${reason}\"}"
done
for state in closed open half_open; do
    expect "keel_circuit_state{dependency=\"inventory-http\",state=\"${state}\"}"
done
expect '# TYPE keel_circuit_state gauge'
expect '# TYPE keel_circuit_transitions_total counter'
expect 'keel_circuit_transitions_total{dependency="inventory-http",from="closed",reason="failure_ratio",to="open"} 0'
expect 'keel_circuit_transitions_total{dependency="inventory-http",from="open",reason="break_ended",to="half_open"} 0'
expect '# TYPE keel_circuit_failure_ratio gauge'
expect '# TYPE keel_call_duration_seconds histogram'
expect 'keel_call_duration_seconds_bucket{dependency="orders-db",le="+Inf"}'
expect '# TYPE keel_attempt_duration_seconds histogram'
expect 'keel_attempt_duration_seconds_count{dependency="events-kafka"}'
expect 'keel_inflight_calls{dependency="payments-http"} 0'
expect 'keel_config_reloads_total{result="success"} 0'
expect 'keel_config_reloads_total{result="error"} 0'
# One round's exact outcomes (examples/metrics-example/main.cpp).
expect 'keel_calls_total{dependency="orders-db",outcome="success"} 1'
expect 'keel_calls_total{dependency="orders-db",outcome="success_after_retry"} 1'
expect 'keel_calls_total{dependency="payments-http",outcome="failure_after_retry"} 1'
expect 'keel_calls_total{dependency="payments-http",outcome="success_after_retry"} 1'
expect 'keel_calls_total{dependency="events-kafka",outcome="timeout"} 1'
expect 'keel_timeouts_total{dependency="events-kafka",phase="connect"} 3'
expect 'keel_timeouts_total{dependency="payments-http",phase="exchange"} 1'
# inventory-http's breaker, held open: one refusal, one transition, no attempt.
expect 'keel_calls_total{dependency="inventory-http",outcome="rejected"} 1'
expect 'keel_attempts_total{dependency="inventory-http",result="success"} 0'
expect 'keel_rejections_total{dependency="inventory-http",reason="circuit_open"} 1'
expect 'keel_rejections_total{dependency="orders-db",reason="circuit_open"} 0'
expect 'keel_circuit_state{dependency="inventory-http",state="open"} 1'
expect 'keel_circuit_state{dependency="inventory-http",state="closed"} 0'
expect 'keel_circuit_transitions_total{dependency="inventory-http",from="closed",reason="isolated",to="open"} 1'
expect 'keel_circuit_failure_ratio{dependency="inventory-http"} 0'
# search-http's bulkhead (one permit, one waiter for 5 ms): the call holding
# the permit succeeds, the waiter times out, the third finds the queue full;
# the round over, nothing is in flight or waiting.
expect '# TYPE keel_bulkhead_in_flight gauge'
expect '# TYPE keel_bulkhead_limit gauge'
expect '# TYPE keel_bulkhead_queued gauge'
expect 'keel_bulkhead_in_flight{dependency="search-http"} 0'
expect 'keel_bulkhead_limit{dependency="search-http"} 1'
expect 'keel_bulkhead_queued{dependency="search-http"} 0'
expect 'keel_calls_total{dependency="search-http",outcome="success"} 1'
expect 'keel_calls_total{dependency="search-http",outcome="rejected"} 2'
expect 'keel_rejections_total{dependency="search-http",reason="bulkhead_full"} 1'
expect 'keel_rejections_total{dependency="search-http",reason="bulkhead_timeout"} 1'
expect '# TYPE keel_bulkhead_wait_seconds histogram'
expect 'keel_bulkhead_wait_seconds_bucket{dependency="search-http",le="0.0001"}'
expect '# TYPE keel_rate_limit_wait_seconds histogram'
expect 'keel_rate_limit_wait_seconds_count{dependency="orders-db"} 0'
# Every configured dependency's retry gate is watched: each has a retry
# budget (on by default; profiles-http's gates its hedges), and orders-db,
# the one with adaptive_throttle, a throttle that never refuses (it answers
# every call).
expect '# TYPE keel_retry_budget_available gauge'
expect '# TYPE keel_retries_denied_total counter'
expect '# TYPE keel_throttle_rejection_ratio gauge'
for dependency in orders-db payments-http events-kafka profiles-http; do
    expect "keel_retry_budget_available{dependency=\"${dependency}\"}"
    expect "keel_retries_denied_total{dependency=\"${dependency}\"} 0"
done
expect 'keel_throttle_rejection_ratio{dependency="orders-db"} 0'
expect 'keel_rejections_total{dependency="orders-db",reason="throttled_locally"} 0'
# profiles-http, hedged after 10 ms: one hedge won (the first attempt hung),
# one lost (the first attempt answered first); every dependency has the
# series, at 0 without hedge:.
expect '# TYPE keel_hedges_total counter'
expect 'keel_hedges_total{dependency="profiles-http",result="won"} 1'
expect 'keel_hedges_total{dependency="profiles-http",result="lost"} 1'
expect 'keel_hedges_total{dependency="profiles-http",result="suppressed"} 0'
expect 'keel_hedges_total{dependency="orders-db",result="won"} 0'
expect 'keel_calls_total{dependency="profiles-http",outcome="success_after_retry"} 1'
expect 'keel_calls_total{dependency="profiles-http",outcome="success"} 1'
# Fallbacks, by the fault class that triggered them and their result: every
# dependency has every series, at 0 where no fallback ran. prices-http's
# fallback answers a reset (its cache has the price) and fails on a timeout
# (it has not): that call keeps its timeout.
expect '# TYPE keel_fallbacks_total counter'
for trigger in transient timeout throttled permanent cancelled rejected; do
    for result in success failure; do
        expect "keel_fallbacks_total{dependency=\"orders-db\",result=\"${result}\",trigger=\"${trigger}\"} 0"
    done
done
expect 'keel_fallbacks_total{dependency="prices-http",result="success",trigger="transient"} 1'
expect 'keel_fallbacks_total{dependency="prices-http",result="failure",trigger="timeout"} 1'
expect 'keel_fallbacks_total{dependency="prices-http",result="failure",trigger="transient"} 0'
expect 'keel_calls_total{dependency="prices-http",outcome="fallback"} 1'
expect 'keel_calls_total{dependency="prices-http",outcome="timeout"} 1'
expect 'keel_calls_total{dependency="prices-http",outcome="success"} 1'
# prices-http's fault rules (seed 7): a 2 ms latency on a quarter of its
# attempts, which in the first round draws one of the three; the other kinds
# are shown at 0. No other dependency has fault rules.
expect '# TYPE keel_faults_injected_total counter'
expect 'keel_faults_injected_total{dependency="prices-http",kind="latency"} 1'
expect 'keel_faults_injected_total{dependency="prices-http",kind="error"} 0'
expect 'keel_faults_injected_total{dependency="prices-http",kind="hang"} 0'
if grep -qF 'keel_faults_injected_total{dependency="orders-db"' <<<"${text}"; then
    echo "check_exposition: orders-db has no fault rules, yet keel_faults_injected_total" >&2
    missing=1
fi
for dependency in payments-http profiles-http; do
    if grep -qF "keel_throttle_rejection_ratio{dependency=\"${dependency}\"}" <<<"${text}"; then
        echo "check_exposition: ${dependency} has no adaptive_throttle, yet its gauge" >&2
        missing=1
    fi
done
if grep -qF 'keel_bulkhead_limit{dependency="orders-db"}' <<<"${text}"; then
    echo "check_exposition: orders-db has no bulkhead, yet bulkhead gauges" >&2
    missing=1
fi
[[ ${missing} -eq 0 ]] || exit 1
echo "check_exposition: promtool accepts the exposition; every keel metric is present"
