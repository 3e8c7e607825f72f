// The simulation engine: the real pipeline against the scripted dependency on
// the manual clock, checked to the nanosecond.
#include "report.hpp"
#include "scenario.hpp"
#include "simulator.hpp"
#include "timeline.hpp"
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace keel::sim {
namespace {

using namespace std::chrono_literals;

scenario load(const std::string& text) {
    std::vector<config::diagnostic> errors;
    std::optional<scenario> s = load_scenario_string(text, "t.yaml", "", errors);
    std::string why;
    for (const auto& d : errors)
        why += d.to_string() + "\n";
    EXPECT_TRUE(s) << why;
    return s ? std::move(*s) : scenario{};
}

std::string rows(const run_result& r) {
    return to_csv(r);
}

TEST(sim_engine, constant_backoff_attempts_start_exactly) {
    const scenario s = load(R"(version: 1
policy:
  version: 1
  dependencies:
    d:
      retry: { max_attempts: 3, backoff: { kind: constant, initial: 100ms, jitter: none } }
dependency: d
duration: 1s
calls: { at: [0ms] }
behaviour:
  - latency: 10ms
    result: connection_refused
)");
    run_options o;
    o.trace = true;
    const run_result r = simulate(s, o);
    EXPECT_EQ(r.calls, 1u);
    EXPECT_EQ(r.attempts, 3u);
    EXPECT_EQ(rows(r), "call,attempt,start_ms,end_ms,result\n"
                       "1,1,0,10,connection_refused\n"
                       "1,2,110,120,connection_refused\n"
                       "1,3,220,230,connection_refused\n");
    EXPECT_EQ(r.outcomes[static_cast<int>(call_outcome::failure_after_retry)], 1u);
    EXPECT_EQ(r.give_up[static_cast<int>(give_up_reason::attempts_exhausted)], 1u);
    EXPECT_EQ(r.call_latencies.at(0), 230ms);
}

TEST(sim_engine, exchange_timeout_ends_a_hang) {
    const scenario s = load(R"(version: 1
policy:
  version: 1
  dependencies:
    d:
      retry: { max_attempts: 2, backoff: { kind: constant, initial: 50ms, jitter: none } }
      timeout: { exchange: 200ms }
dependency: d
duration: 1s
calls: { at: [0ms] }
behaviour:
  - result: hang
)");
    run_options o;
    o.trace = true;
    const run_result r = simulate(s, o);
    EXPECT_EQ(rows(r), "call,attempt,start_ms,end_ms,result\n"
                       "1,1,0,200,exchange_timeout\n"
                       "1,2,250,450,exchange_timeout\n");
    EXPECT_EQ(r.outcomes[static_cast<int>(call_outcome::timeout)], 1u);
    EXPECT_EQ(r.call_latencies.at(0), 450ms);
    EXPECT_EQ(r.abandoned, 0u);
}

TEST(sim_engine, the_policys_fault_rules_apply_in_simulation) {
    const scenario s = load(R"(version: 1
policy:
  version: 1
  dependencies:
    d:
      retry: { max_attempts: 1 }
      faults:
        - { kind: error, rate: 1.0, error: connection_reset, endpoint: "db1:5432" }
        - { kind: latency, rate: 1.0, delay: 100ms }
dependency: d
duration: 1s
calls: { at: [0ms, 500ms] }
behaviour:
  - latency: 10ms
)");
    // The calls report no endpoint: the first rule never applies, the second always.
    const run_result r = simulate(s);
    EXPECT_EQ(r.outcomes[static_cast<int>(call_outcome::success)], 2u);
    EXPECT_EQ(r.call_latencies.at(0), 110ms);
    EXPECT_EQ(simulate(s).call_latencies, r.call_latencies) << "each run replays the plan";
}

TEST(sim_engine, a_fallback_answers_only_the_fault_classes_it_lists) {
    // Three calls: refused (transient, not listed), hung past the exchange
    // deadline (timeout, listed), answered.
    const scenario s = load(R"(version: 1
policy:
  version: 1
  dependencies:
    d:
      retry: { max_attempts: 1 }
      timeout: { exchange: 200ms }
      fallback: { on: [timeout] }
dependency: d
duration: 1s
calls: { at: [0ms, 300ms, 600ms] }
behaviour:
  - until: 300ms
    latency: 10ms
    result: connection_refused
  - until: 600ms
    result: hang
  - latency: 10ms
)");
    run_options o;
    o.trace = true;
    const run_result r = simulate(s, o);
    ASSERT_TRUE(r.fallbacks);
    EXPECT_EQ(*r.fallbacks, 1u);
    EXPECT_EQ(r.outcomes[static_cast<int>(call_outcome::fallback)], 1u);
    EXPECT_EQ(r.outcomes[static_cast<int>(call_outcome::failure)], 1u);
    EXPECT_EQ(r.outcomes[static_cast<int>(call_outcome::success)], 1u);
    EXPECT_EQ(r.outcomes[static_cast<int>(call_outcome::timeout)], 0u);
    EXPECT_EQ(r.call_latencies, (std::vector<nanos>{10ms, 10ms, 200ms}))
        << "the simulated fallback answers at once";
    EXPECT_EQ(rows(r), "call,attempt,start_ms,end_ms,result\n"
                       "1,1,0,10,connection_refused\n"
                       "2,1,300,500,exchange_timeout\n"
                       "3,1,600,610,ok\n");
    EXPECT_NE(to_json(r).find("\"attempts\": 3, \"fallbacks\": 1,"), std::string::npos)
        << to_json(r);
}

TEST(sim_engine, without_a_fallback_none_is_counted) {
    const scenario s = load(R"(version: 1
policy:
  version: 1
  dependencies:
    d:
      retry: { max_attempts: 1 }
dependency: d
duration: 1s
calls: { at: [0ms] }
behaviour:
  - result: connection_refused
)");
    const run_result r = simulate(s);
    EXPECT_FALSE(r.fallbacks);
    EXPECT_EQ(r.outcomes[static_cast<int>(call_outcome::failure)], 1u);
    EXPECT_NE(to_json(r).find("\"fallbacks\": 0,"), std::string::npos) << to_json(r);
}

TEST(sim_engine, a_hang_without_deadline_is_cancelled_at_the_end) {
    const scenario s = load(R"(version: 1
policy: { version: 1, dependencies: { d: { retry: { max_attempts: 1 } } } }
dependency: d
calls: { at: [0ms, 5ms] }
behaviour:
  - until: 1ms
    latency: 3ms
    result: hang
  - latency: 2ms
)");
    const run_result r = simulate(s);
    EXPECT_EQ(r.abandoned, 1u);
    EXPECT_EQ(r.outcomes[static_cast<int>(call_outcome::cancelled)], 1u);
    EXPECT_EQ(r.outcomes[static_cast<int>(call_outcome::success)], 1u);
}

TEST(sim_engine, every_and_closed_loop_arrivals) {
    const scenario every = load(R"(version: 1
policy: { version: 1, dependencies: { d: {} } }
dependency: d
duration: 1s
calls: { every: 100ms }
behaviour:
  - latency: 100ms
)");
    const run_result r = simulate(every);
    EXPECT_EQ(r.calls, 10u);
    // An attempt ending when the next starts does not overlap it.
    EXPECT_EQ(r.peak_attempts_in_flight, 1);
    EXPECT_EQ(r.end, 1000ms);

    const scenario loop = load(R"(version: 1
policy: { version: 1, dependencies: { d: {} } }
dependency: d
duration: 1s
calls: { concurrency: { callers: 4, think: 40ms } }
behaviour:
  - latency: 10ms
)");
    const run_result l = simulate(loop);
    // Each caller: a call at 0, 50, ..., 950 ms: 20 calls, 4 at once.
    EXPECT_EQ(l.calls, 80u);
    EXPECT_EQ(l.peak_attempts_in_flight, 4);
}

TEST(sim_engine, the_same_seed_replays_and_another_differs) {
    const std::string text = R"(version: 1
policy:
  version: 1
  dependencies:
    d:
      retry: { max_attempts: 4, backoff: { kind: exponential, initial: 100ms, jitter: full } }
dependency: d
duration: 10s
calls: { rate: 20/s }
behaviour:
  - latency: { median: 20ms, p99: 200ms }
    result: { error: http_503, rate: 0.3 }
)";
    const scenario s = load(text);
    run_options o;
    o.trace = true;
    const std::string a = to_json(simulate(s, o)) + to_csv(simulate(s, o));
    const std::string b = to_json(simulate(s, o)) + to_csv(simulate(s, o));
    EXPECT_EQ(a, b);
    o.seed = 2;
    const std::string c = to_json(simulate(s, o)) + to_csv(simulate(s, o));
    EXPECT_NE(a, c);
}

TEST(sim_engine, first_attempts_fail_then_succeed) {
    const scenario s = load(R"(version: 1
policy:
  version: 1
  dependencies:
    d:
      retry: { max_attempts: 5, backoff: { kind: linear, initial: 10ms, step: 10ms, jitter: none } }
dependency: d
calls: { at: [0ms] }
behaviour:
  - latency: 1ms
    result: { error: connection_reset, first: 2 }
)");
    run_options o;
    o.trace = true;
    const run_result r = simulate(s, o);
    EXPECT_EQ(rows(r), "call,attempt,start_ms,end_ms,result\n"
                       "1,1,0,1,connection_reset\n"
                       "1,2,11,12,connection_reset\n"
                       "1,3,32,33,ok\n");
    EXPECT_EQ(r.outcomes[static_cast<int>(call_outcome::success_after_retry)], 1u);
}

/// `d` behind `bulkhead` (a flow map), called `calls`, answering in `latency`.
scenario behind_bulkhead(const std::string& bulkhead, const std::string& calls,
                         const std::string& behaviour) {
    return load("version: 1\npolicy:\n  version: 1\n  dependencies:\n    d:\n"
                "      retry: { max_attempts: 1 }\n      bulkhead: " +
                bulkhead + "\ndependency: d\n" + calls + "\nbehaviour:\n" + behaviour);
}

TEST(sim_engine, a_fixed_bulkhead_bounds_the_attempts_in_flight) {
    const scenario s =
        behind_bulkhead("{ max_concurrent: 3 }", "calls: { at: [0ms, 0ms, 0ms, 0ms, 0ms] }",
                        "  - latency: 10ms\n    result: ok\n");
    run_options o;
    o.timeline = true;
    const run_result r = simulate(s, o);
    EXPECT_EQ(r.peak_attempts_in_flight, 3) << "five calls at once, three permits";
    EXPECT_EQ(r.attempts, 3u);
    EXPECT_EQ(r.rejected.at("bulkhead_full"), 2u);
    EXPECT_FALSE(r.limit.has_value()) << "a fixed limit has no \"limit\" key";
    ASSERT_EQ(r.concurrency.size(), 2u);
    EXPECT_EQ(r.concurrency[0].at, 0ms);
    EXPECT_EQ(r.concurrency[0].in_flight, 3) << "the instant's last state, not each step";
    EXPECT_EQ(r.concurrency[0].limit, 3);
    EXPECT_EQ(r.concurrency[1].at, 10ms);
    EXPECT_EQ(r.concurrency[1].in_flight, 0);
    EXPECT_EQ(to_json(r).find("\"limit\""), std::string::npos);
}

TEST(sim_engine, an_adaptive_limit_reports_its_lowest_and_highest_values) {
    // AIMD from 4: two throttled answers (4 -> 3 -> 2), then a success at
    // in_flight 1 (1 * 2 >= 2): 3.
    const scenario s = behind_bulkhead(
        "{ adaptive: { algorithm: aimd, initial: 4, min: 1, max: 8, backoff_ratio: 0.75 } }",
        "calls: { at: [0ms, 100ms, 200ms] }",
        "  - until: 150ms\n    latency: 10ms\n    result: http_503\n"
        "  - latency: 10ms\n    result: ok\n");
    const run_result r = simulate(s);
    ASSERT_TRUE(r.limit.has_value());
    EXPECT_EQ(r.limit->initial, 4);
    EXPECT_EQ(r.limit->min, 2);
    EXPECT_EQ(r.limit->max, 4);
    EXPECT_EQ(r.limit->final, 3);
    const std::string json = to_json(r);
    EXPECT_NE(json.find(",\n \"limit\": {\"initial\": 4, \"min\": 2, \"max\": 4, \"final\": 3}}\n"),
              std::string::npos)
        << json;
}

/// `d` behind `rate_limit` (a flow map), one attempt per call, called at
/// 0 and 5 ms; every attempt answers a 429 with Retry-After: 1s in 10 ms.
scenario throttled_behind(const std::string& rate_limit) {
    return load("version: 1\npolicy:\n  version: 1\n  dependencies:\n    d:\n"
                "      retry: { max_attempts: 1 }\n      rate_limit: " +
                rate_limit +
                "\ndependency: d\ncalls: { at: [0ms, 5ms] }\nbehaviour:\n"
                "  - latency: 10ms\n    result: { error: http_429, retry_after: 1s }\n");
}

TEST(sim_engine, a_pushback_that_ends_later_extends_the_pause) {
    const scenario s = throttled_behind("{ rate: 10/s, burst: 2 }");
    run_options o;
    o.timeline = true;
    const run_result r = simulate(s, o);
    ASSERT_TRUE(r.rate_limit.has_value());
    ASSERT_EQ(r.rate_limit->pauses.size(), 2u);
    EXPECT_EQ(r.rate_limit->pauses[0].at, 10ms);
    EXPECT_EQ(r.rate_limit->pauses[0].until, 1010ms);
    EXPECT_EQ(r.rate_limit->pauses[1].at, 15ms);
    EXPECT_EQ(r.rate_limit->pauses[1].until, 1015ms);
    EXPECT_TRUE(r.rate_limit->waits.empty());
    EXPECT_NE(to_json(r).find("\"rate_limit\": {\"waits\": 0, \"wait_ms\": {\"p50\": 0, \"p90\": "
                              "0, \"p99\": 0, \"max\": 0}, \"pauses\": [{\"at_ms\": 10, "
                              "\"until_ms\": 1010}, {\"at_ms\": 15, \"until_ms\": 1015}]}}\n"),
              std::string::npos)
        << to_json(r);
    // The plot's band: one pause, the extended one.
    const plot_data plot = plot_of(r, s);
    ASSERT_EQ(plot.states.size(), 1u);
    EXPECT_EQ(plot.states[0].strategy, "rate_limiter");
    EXPECT_EQ(plot.states[0].state, "paused");
    EXPECT_EQ(plot.states[0].from, 10ms);
    EXPECT_EQ(plot.states[0].to, 1015ms);
}

TEST(sim_engine, without_honor_pushback_a_429_pauses_nothing) {
    const run_result r =
        simulate(throttled_behind("{ rate: 10/s, burst: 2, honor_pushback: false }"));
    ASSERT_TRUE(r.rate_limit.has_value());
    EXPECT_TRUE(r.rate_limit->pauses.empty());
    EXPECT_EQ(r.attempts, 2u);
}

TEST(sim_engine, a_wait_for_a_token_is_reported_to_the_nanosecond) {
    // 3/s: a token each 333.333334 ms (rounded up); the second call waits
    // for it.
    const scenario s = load(R"(version: 1
policy:
  version: 1
  dependencies:
    d:
      retry: { max_attempts: 1 }
      rate_limit: { rate: 3/s, burst: 1, max_wait: 1s }
dependency: d
calls: { at: [0ms, 0ms] }
behaviour:
  - latency: 10ms
    result: ok
)");
    const run_result r = simulate(s);
    ASSERT_TRUE(r.rate_limit.has_value());
    ASSERT_EQ(r.rate_limit->waits.size(), 1u);
    EXPECT_EQ(r.rate_limit->waits[0], 333'333'334ns);
    EXPECT_NE(to_json(r).find("\"wait_ms\": {\"p50\": 333.333334,"), std::string::npos)
        << to_json(r);
}

TEST(sim_report, percentiles_are_nearest_rank_and_ms_exact) {
    std::vector<nanos> v;
    for (int i = 1; i <= 100; ++i)
        v.push_back(std::chrono::milliseconds(i));
    EXPECT_EQ(percentile(v, 50), 50ms);
    EXPECT_EQ(percentile(v, 99), 99ms);
    EXPECT_EQ(percentile({}, 50), 0ms);
    EXPECT_EQ(format_ms(1500ms), "1500");
    EXPECT_EQ(format_ms(250us), "0.25");
    EXPECT_EQ(format_ms(12ms + 1ns), "12.000001");
}

// Hedging a long tail (log-normal, median 10 ms, p99 300 ms): with a hedge
// after 50 ms the calls' p99 falls well below the dependency's own, at the
// cost of a second attempt for the ~13.5% of calls slower than the delay.
std::string long_tail(const std::string& hedge, const std::string& operation) {
    return R"(version: 1
policy:
  version: 1
  dependencies:
    search:
      retry: { max_attempts: 1 }
      timeout: { total: 2s }
      hedge: )" +
           hedge + R"(
dependency: search
operation: )" +
           operation +
           R"(
duration: 20s
calls: { every: 10ms }
behaviour:
  - latency: { median: 10ms, p99: 300ms }
    result: ok
)";
}

double per_call(const run_result& r) {
    return static_cast<double>(r.attempts) / static_cast<double>(r.calls);
}

TEST(sim_engine, hedging_cuts_a_long_tail_for_a_few_more_attempts) {
    const run_result off = simulate(load(long_tail("off", "{ idempotent: true }")));
    const run_result on =
        simulate(load(long_tail("{ max_attempts: 2, delay: 50ms }", "{ idempotent: true }")));
    ASSERT_EQ(on.calls, 2000u);
    ASSERT_EQ(off.calls, 2000u);
    EXPECT_FALSE(off.hedges) << "no hedge configured: no hedges in the JSON";
    ASSERT_TRUE(on.hedges);
    EXPECT_DOUBLE_EQ(per_call(off), 1.0);
    // P(a log-normal attempt > 50 ms) = P(Z > ln 5 / (ln 30 / 2.326)) = 13.5%.
    EXPECT_GT(per_call(on), 1.10);
    EXPECT_LT(per_call(on), 1.17);
    const nanos p99_off = off.call_latencies[1979];
    const nanos p99_on = on.call_latencies[1979];
    EXPECT_GT(p99_off, 250ms);
    EXPECT_LT(p99_on, 100ms) << "P(both attempts slow) is about 0.8% at 100 ms";
    EXPECT_LT(on.call_latencies.back(), off.call_latencies.back());
    EXPECT_EQ(on.outcomes[static_cast<int>(call_outcome::success)] +
                  on.outcomes[static_cast<int>(call_outcome::success_after_retry)],
              2000u);
    // Every attempt after a call's first is a hedge, and a call a hedge won
    // is a success after retry; the others won with their first attempt.
    EXPECT_EQ(on.hedges->started, on.attempts - on.calls);
    EXPECT_EQ(on.hedges->won, on.outcomes[static_cast<int>(call_outcome::success_after_retry)]);
    EXPECT_GT(on.hedges->won, 0u);
    EXPECT_LT(on.hedges->won, on.hedges->started) << "some primaries answer before their hedge";
    EXPECT_EQ(on.hedges->suppressed, 0u) << "2 s leave room, and the budget allows 30/s";
}

TEST(sim_engine, an_operation_that_is_not_idempotent_is_not_hedged) {
    const run_result r =
        simulate(load(long_tail("{ max_attempts: 3, delay: 50ms }", "{ idempotent: false }")));
    EXPECT_EQ(r.attempts, r.calls) << "one attempt per call";
    ASSERT_TRUE(r.hedges);
    EXPECT_EQ(r.hedges->started, 0u);
    EXPECT_EQ(r.hedges->won, 0u);
    EXPECT_GT(r.call_latencies[1979], 250ms);
}

} // namespace
} // namespace keel::sim
