// keel::config::plan: the attempt schedule keel-check --schedule prints, and
// a check that the real pipeline keeps to it on the manual clock.
#include <keel/config/schedule.hpp>
#include <keel/idempotent.hpp>

#include "../core/support/scripted_op.hpp"
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace keel::config {
namespace {

using namespace std::chrono_literals;
using ns = std::chrono::nanoseconds;

pipeline_policy make(int attempts, backoff_kind kind, jitter_kind jitter, ns exchange, ns total) {
    pipeline_policy p;
    p.retry.max_attempts = attempts;
    p.retry.backoff.kind = kind;
    p.retry.backoff.initial = 100ms;
    p.retry.backoff.multiplier = 2.0;
    p.retry.backoff.step = 100ms;
    p.retry.backoff.max = 5s;
    p.retry.backoff.jitter = jitter;
    p.timeout.connect = std::min<ns>(std::min<ns>(1s, exchange), total);
    p.timeout.exchange = exchange;
    p.timeout.total = total;
    return p;
}

struct row {
    int number;
    ns delay, earliest, latest;
};

std::vector<row> rows(const schedule_report& r) {
    std::vector<row> out;
    for (const scheduled_attempt& a : r.attempts)
        out.push_back({a.number, a.delay_before, a.earliest_start, a.latest_start});
    return out;
}

bool operator==(const row& a, const row& b) {
    return a.number == b.number && a.delay == b.delay && a.earliest == b.earliest &&
           a.latest == b.latest;
}

void PrintTo(const row& r, std::ostream* os) {
    *os << "{" << r.number << ", " << r.delay.count() << "ns, " << r.earliest.count() << "ns, "
        << r.latest.count() << "ns}";
}

TEST(config_schedule, exponential_without_jitter_is_exact) {
    const auto r = plan(make(4, backoff_kind::exponential, jitter_kind::none, 2s, 10s), 1);
    EXPECT_EQ(rows(r), (std::vector<row>{{1, 0ms, 0ms, 0ms},
                                         {2, 100ms, 100ms, 2100ms},
                                         {3, 200ms, 300ms, 4300ms},
                                         {4, 400ms, 700ms, 6700ms}}));
    EXPECT_EQ(r.worst_case_give_up, 8700ms);
    EXPECT_EQ(r.max_calls_per_request, 4);
}

TEST(config_schedule, linear_and_constant_without_jitter) {
    auto r = plan(make(3, backoff_kind::linear, jitter_kind::none, 1s, 10s), 7);
    EXPECT_EQ(rows(r),
              (std::vector<row>{
                  {1, 0ms, 0ms, 0ms}, {2, 100ms, 100ms, 1100ms}, {3, 200ms, 300ms, 2300ms}}));
    EXPECT_EQ(r.worst_case_give_up, 3300ms);

    r = plan(make(2, backoff_kind::constant, jitter_kind::none, 1s, 10s), 7);
    EXPECT_EQ(rows(r), (std::vector<row>{{1, 0ms, 0ms, 0ms}, {2, 100ms, 100ms, 1100ms}}));
    EXPECT_EQ(r.worst_case_give_up, 2100ms);
    EXPECT_EQ(r.max_calls_per_request, 2);
}

TEST(config_schedule, the_total_deadline_cuts_attempts_and_latest_starts) {
    auto p = make(10, backoff_kind::constant, jitter_kind::none, 500ms, 1s);
    p.retry.backoff.initial = 300ms;
    const auto r = plan(p, 1);
    // The fifth attempt would start at 1.2 s at the earliest: past the total.
    EXPECT_EQ(rows(r), (std::vector<row>{{1, 0ms, 0ms, 0ms},
                                         {2, 300ms, 300ms, 800ms},
                                         {3, 300ms, 600ms, 1s},
                                         {4, 300ms, 900ms, 1s}}));
    EXPECT_EQ(r.worst_case_give_up, 1s);
    EXPECT_EQ(r.max_calls_per_request, 4);
}

TEST(config_schedule, a_sleep_ending_exactly_at_the_total_deadline_does_not_happen) {
    auto p = make(10, backoff_kind::constant, jitter_kind::none, 100ms, 1s);
    p.retry.backoff.initial = 250ms;
    const auto r = plan(p, 1);
    ASSERT_EQ(r.max_calls_per_request, 4); // 0, 250ms, 500ms, 750ms; not 1s
    EXPECT_EQ(r.attempts.back().earliest_start, 750ms);

    // The same boundary as retry_policy::decide: a sleep equal to the time
    // left is refused, one nanosecond less is accepted.
    random_source random(1);
    failed_attempt failed;
    failed.number = 4;
    failed.fault = fault_class::transient;
    failed.time_left = 1s - 750ms;
    EXPECT_EQ(p.retry.decide(failed, random).reason, give_up_reason::deadline);
    failed.time_left = 250ms + 1ns;
    EXPECT_TRUE(p.retry.decide(failed, random).retry);
}

TEST(config_schedule, one_attempt_only) {
    const auto r = plan(make(1, backoff_kind::exponential, jitter_kind::full, 2s, 10s), 1);
    EXPECT_EQ(rows(r), (std::vector<row>{{1, 0ms, 0ms, 0ms}}));
    EXPECT_EQ(r.worst_case_give_up, 2s);
    EXPECT_EQ(r.max_calls_per_request, 1);
}

TEST(config_schedule, nothing_to_retry_means_one_call) {
    auto p = make(5, backoff_kind::exponential, jitter_kind::none, 2s, 10s);
    p.retry.retry_on = {};
    EXPECT_EQ(plan(p, 1).max_calls_per_request, 1);
    p.retry.retry_on = {fault_class::cancelled}; // decide() never retries a cancellation
    EXPECT_EQ(plan(p, 1).max_calls_per_request, 1);
    p.retry.retry_on = {fault_class::throttled};
    EXPECT_EQ(plan(p, 1).max_calls_per_request, 5);
}

TEST(config_schedule, unlimited_timeouts_make_an_unlimited_worst_case) {
    const auto r =
        plan(make(3, backoff_kind::exponential, jitter_kind::none, unlimited, unlimited), 1);
    EXPECT_EQ(rows(r),
              (std::vector<row>{
                  {1, 0ms, 0ms, 0ms}, {2, 100ms, 100ms, unlimited}, {3, 200ms, 300ms, unlimited}}));
    EXPECT_EQ(r.worst_case_give_up, unlimited);
    EXPECT_EQ(r.max_calls_per_request, 3);
    const std::string text = format_plan(r, "dep");
    EXPECT_NE(text.find("worst-case time to give up: unlimited\n"), std::string::npos) << text;
}

TEST(config_schedule, unlimited_exchange_is_bounded_by_the_total) {
    const auto r = plan(make(3, backoff_kind::exponential, jitter_kind::none, unlimited, 5s), 1);
    EXPECT_EQ(rows(r),
              (std::vector<row>{{1, 0ms, 0ms, 0ms}, {2, 100ms, 100ms, 5s}, {3, 200ms, 300ms, 5s}}));
    EXPECT_EQ(r.worst_case_give_up, 5s);
}

TEST(config_schedule, full_jitter_stays_within_its_bounds_and_replays_by_seed) {
    const auto p = make(6, backoff_kind::exponential, jitter_kind::full, 2s, unlimited);
    const auto a = plan(p, 42);
    const auto b = plan(p, 42);
    EXPECT_EQ(rows(a), rows(b));
    EXPECT_EQ(format_plan(a, "dep"), format_plan(b, "dep"));
    ASSERT_EQ(a.max_calls_per_request, 6);

    const auto delays = backoff_schedule(p.retry.backoff, 5, 42);
    ns earliest{0};
    for (int n = 2; n <= 6; ++n) {
        const scheduled_attempt& at = a.attempts[static_cast<std::size_t>(n - 1)];
        EXPECT_EQ(at.delay_before, delays[static_cast<std::size_t>(n - 2)]);
        EXPECT_GE(at.delay_before, 0ns);
        EXPECT_LT(at.delay_before, p.retry.backoff.base_delay(n - 1));
        earliest += at.delay_before;
        EXPECT_EQ(at.earliest_start, earliest);
        EXPECT_EQ(at.latest_start, earliest + (n - 1) * ns(2s));
    }
    EXPECT_EQ(a.worst_case_give_up, a.attempts.back().latest_start + 2s);

    // Another seed draws other delays (these two are known to differ).
    EXPECT_NE(rows(plan(p, 43)), rows(a));
}

TEST(config_schedule, equal_and_decorrelated_jitter_follow_the_backoff_schedule) {
    for (jitter_kind j : {jitter_kind::equal, jitter_kind::decorrelated}) {
        const auto p = make(5, backoff_kind::exponential, j, 1s, 30s);
        const auto r = plan(p, 9);
        const auto delays = backoff_schedule(p.retry.backoff, 4, 9);
        ASSERT_EQ(r.attempts.size(), 5u);
        for (std::size_t i = 1; i < r.attempts.size(); ++i)
            EXPECT_EQ(r.attempts[i].delay_before, delays[i - 1]);
    }
}

TEST(config_schedule, format_is_a_table_with_two_summary_lines) {
    const auto r = plan(make(3, backoff_kind::exponential, jitter_kind::none, 2s, 10s), 1);
    EXPECT_EQ(format_plan(r, "orders-db"), "schedule of orders-db:\n"
                                           "  attempt  delay before  earliest start  latest start\n"
                                           "        1            0s              0s            0s\n"
                                           "        2         100ms           100ms       2s100ms\n"
                                           "        3         200ms           300ms       4s300ms\n"
                                           "worst-case time to give up: 6s300ms\n"
                                           "max calls per request: 3\n");
}

TEST(config_schedule, format_marks_a_latest_start_bounded_by_the_total) {
    auto p = make(10, backoff_kind::constant, jitter_kind::none, 500ms, 1s);
    p.retry.backoff.initial = 300ms;
    const std::string text = format_plan(plan(p, 1), "dep");
    EXPECT_NE(text.find("        3         300ms           600ms          < 1s\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("worst-case time to give up: 1s\n"), std::string::npos) << text;
    EXPECT_NE(text.find("max calls per request: 4\n"), std::string::npos) << text;
}

TEST(config_schedule, format_rounds_jittered_times_to_three_digits) {
    schedule_report r;
    r.attempts = {{1, 0ns, 0ns, 0ns}, {2, 66'428'519ns, 822'465ns, 4'067'250'984ns}};
    r.worst_case_give_up = 6'067'750'984ns;
    r.max_calls_per_request = 2;
    const std::string text = format_plan(r, "dep");
    EXPECT_NE(text.find("        2     66ms429us      822us465ns        4s67ms\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("worst-case time to give up: 6s68ms\n"), std::string::npos) << text;
}

TEST(config_schedule, format_shows_the_head_and_tail_of_a_long_table) {
    auto p = make(1000, backoff_kind::constant, jitter_kind::none, 1s, unlimited);
    const auto r = plan(p, 1);
    ASSERT_EQ(r.max_calls_per_request, 1000);
    const std::string text = format_plan(r, "dep");
    EXPECT_NE(text.find("\n       35         100ms         3s400ms"), std::string::npos) << text;
    EXPECT_NE(text.find("\n      ...  (960 attempts not shown)\n      996         100ms"),
              std::string::npos)
        << text;
    EXPECT_EQ(text.find("\n       36 "), std::string::npos) << text;
    EXPECT_NE(text.find("\n     1000         100ms      1m39s900ms   18m18s900ms\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("max calls per request: 1000\n"), std::string::npos) << text;
    // 1 title, 1 header, 35 head rows, 1 "...", 5 tail rows, 2 summary lines.
    EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 45);
}

// The rules of plan(), spelled out over the whole backoff_schedule: what the
// bounded, closed-form computation must agree with.
schedule_report brute_force(const pipeline_policy& p, std::uint64_t seed) {
    const ns total = p.timeout.total;
    const ns exchange = std::min(p.timeout.exchange, total);
    schedule_report out;
    out.attempts.push_back({1, 0ns, 0ns, 0ns});
    for (ns delay : backoff_schedule(p.retry.backoff, p.retry.max_attempts - 1, seed)) {
        const scheduled_attempt last = out.attempts.back();
        const ns earliest = last.earliest_start + delay;
        if (earliest >= total)
            break;
        const ns latest = std::min(last.latest_start + exchange + delay, total);
        out.attempts.push_back({last.number + 1, delay, earliest, latest});
    }
    out.worst_case_give_up = std::min(total, out.attempts.back().latest_start + exchange);
    out.max_calls_per_request = static_cast<int>(out.attempts.size());
    return out;
}

TEST(config_schedule, long_schedules_list_their_head_and_tail_and_agree_with_the_rules) {
    struct example {
        backoff_kind kind;
        jitter_kind jitter;
        int attempts;
        ns total;
    };
    const example examples[] = {
        {backoff_kind::exponential, jitter_kind::none, 30'000, 1h},
        {backoff_kind::exponential, jitter_kind::none, 30'000, 10h},
        {backoff_kind::constant, jitter_kind::none, 12'345, 24h},
        {backoff_kind::linear, jitter_kind::none, 20'000, 100h},
        {backoff_kind::exponential, jitter_kind::full, 25'000, 10h},
        {backoff_kind::exponential, jitter_kind::decorrelated, 25'000, 1000h},
        {backoff_kind::exponential, jitter_kind::none, 10'003, 1000h},
        // Cut by the total deadline after the listed attempts.
        {backoff_kind::constant, jitter_kind::none, 20'000, 1500s},
        {backoff_kind::exponential, jitter_kind::none, 40'000, 30h},
        {backoff_kind::exponential, jitter_kind::equal, 40'000, 30h},
    };
    for (const example& e : examples) {
        const auto p = make(e.attempts, e.kind, e.jitter, 1s, e.total);
        const auto want = brute_force(p, 5);
        const auto got = plan(p, 5);
        SCOPED_TRACE(::testing::Message() << to_string(e.kind) << "/" << to_string(e.jitter) << "/"
                                          << e.attempts << "/" << e.total.count());
        EXPECT_EQ(got.max_calls_per_request, want.max_calls_per_request);
        EXPECT_EQ(got.worst_case_give_up, want.worst_case_give_up);
        if (want.attempts.size() <= 10'000) {
            EXPECT_EQ(rows(got), rows(want));
            continue;
        }
        ASSERT_EQ(got.attempts.size(), 10'000u);
        const auto head = rows(want);
        const std::vector<row> want_head(head.begin(), head.begin() + 9'995);
        const std::vector<row> want_tail(head.end() - 5, head.end());
        const auto all = rows(got);
        EXPECT_EQ(std::vector<row>(all.begin(), all.begin() + 9'995), want_head);
        EXPECT_EQ(std::vector<row>(all.end() - 5, all.end()), want_tail);
    }
}

TEST(config_schedule, a_huge_max_attempts_is_planned_without_listing_every_attempt) {
    auto p = make(1'000'000'000, backoff_kind::exponential, jitter_kind::none, 1s, unlimited);
    const auto r = plan(p, 1);
    EXPECT_EQ(r.max_calls_per_request, 1'000'000'000);
    ASSERT_EQ(r.attempts.size(), 10'000u);
    const scheduled_attempt& last = r.attempts.back();
    EXPECT_EQ(last.number, 1'000'000'000);
    EXPECT_EQ(last.delay_before, 5s);
    // 100ms + 200ms + ... + 3s200ms, then 5s for each of the other retries.
    const ns growing = 6300ms;
    const std::int64_t capped = 1'000'000'000 - 1 - 6;
    EXPECT_EQ(last.earliest_start, growing + capped * ns(5s));
    EXPECT_EQ(last.latest_start, growing + capped * ns(5s) + (1'000'000'000 - 1) * ns(1s));
    EXPECT_EQ(r.worst_case_give_up, last.latest_start + 1s);
    const std::string text = format_plan(r, "dep");
    EXPECT_NE(text.find("(999999960 attempts not shown)"), std::string::npos) << text;
    EXPECT_NE(text.find("\n  1000000000            5s"), std::string::npos) << text;
}

// The plan against the real pipeline on the manual clock: fast failures start
// each attempt at its earliest start, hanging attempts at its latest.
class config_schedule_versus_pipeline : public ::testing::Test {
protected:
    void SetUp() override { test::manual_clock::reset(); }
    asio::io_context context;

    std::vector<ns> starts(const pipeline_policy& policy, test::step step) {
        basic_pipeline<test::manual_timer> pipe(context, "dep", policy);
        test::scripted_op op(context, {step});
        test::completion c;
        const auto begin = test::manual_clock::now();
        pipe.async_run(std::ref(op), test::record(c));
        test::run_for(context, 60s, [&] { return c.done(); });
        EXPECT_TRUE(c.done());
        std::vector<ns> out;
        for (const test::seen_attempt& s : op.seen())
            out.push_back(s.started - begin);
        return out;
    }
};

TEST_F(config_schedule_versus_pipeline, fast_failures_start_at_the_earliest_starts) {
    auto p = make(10, backoff_kind::exponential, jitter_kind::none, 500ms, 2s);
    const auto r = plan(p, 1);
    std::vector<ns> expected;
    for (const scheduled_attempt& a : r.attempts)
        expected.push_back(a.earliest_start);
    EXPECT_EQ(starts(p, test::fail(asio::error::connection_refused)), expected);
}

TEST_F(config_schedule_versus_pipeline, hanging_attempts_start_at_the_latest_starts) {
    auto p = make(3, backoff_kind::exponential, jitter_kind::none, 500ms, 10s);
    const auto r = plan(p, 1);
    const auto seen = starts(p, test::hang());
    ASSERT_EQ(seen.size(), r.attempts.size());
    // The deadline queue is coarse: a timeout fires at its deadline or a
    // little after, never before.
    for (std::size_t i = 0; i < seen.size(); ++i) {
        EXPECT_GE(seen[i], r.attempts[i].latest_start) << i;
        EXPECT_LE(seen[i], r.attempts[i].latest_start + ns(20ms) * static_cast<int>(i)) << i;
    }
}

// The hedge plan: attempt k at (k - 1) × the delay while none answers, the
// total deadline's min_remaining leaving later ones out.
hedge_settings hedge_of(int attempts, ns delay) {
    hedge_settings h;
    h.max_attempts = attempts;
    h.delay = delay;
    return h;
}

TEST(config_hedge_schedule, attempts_start_a_delay_apart) {
    const pipeline_policy p = make(1, backoff_kind::constant, jitter_kind::none, 1s, 10s);
    const hedge_plan fixed = plan_hedges(hedge_of(3, 50ms), p);
    EXPECT_EQ(fixed.starts, (std::vector<ns>{0ms, 50ms, 100ms}));
    EXPECT_EQ(fixed.suppressed, 0);
    hedge_settings quantile = hedge_of(4, 50ms);
    quantile.delay_quantile = 0.95;
    quantile.fallback_delay = 40ms;
    EXPECT_EQ(plan_hedges(quantile, p).starts, (std::vector<ns>{0ms, 40ms, 80ms, 120ms}))
        << "the fallback_delay until the quantile has its samples";
}

TEST(config_hedge_schedule, the_deadline_suppresses_hedges_without_min_remaining_left) {
    // The case: a deadline of 90 ms with min_remaining 50 ms
    // suppresses the hedge due at 50 ms (and so the one at 100 ms).
    hedge_settings h = hedge_of(3, 50ms);
    h.min_remaining = 50ms;
    const hedge_plan tight =
        plan_hedges(h, make(1, backoff_kind::constant, jitter_kind::none, 90ms, 90ms));
    EXPECT_EQ(tight.starts, (std::vector<ns>{0ms}));
    EXPECT_EQ(tight.suppressed, 2);
    // Unset, min_remaining is the delay: 120 ms leaves 70 ms at 50 ms and
    // 20 ms at 100 ms.
    const hedge_plan by_delay = plan_hedges(
        hedge_of(3, 50ms), make(1, backoff_kind::constant, jitter_kind::none, 120ms, 120ms));
    EXPECT_EQ(by_delay.starts, (std::vector<ns>{0ms, 50ms}));
    EXPECT_EQ(by_delay.suppressed, 1);
}

TEST(config_hedge_schedule, format_shows_starts_the_rules_and_the_budget) {
    hedge_settings h = hedge_of(3, 50ms);
    h.delay_quantile = 0.95;
    h.min_remaining = 30ms;
    const pipeline_policy p = make(1, backoff_kind::constant, jitter_kind::none, 1s, 90ms);
    const std::string text =
        format_hedge_plan(plan_hedges(h, p), h, retry_budget_settings{}, "reads");
    EXPECT_EQ(text, "hedges of reads (while no attempt has answered):\n"
                    "  attempt  start\n"
                    "        1     0s\n"
                    "        2   50ms\n"
                    "delay: p95 of recent successful attempts; 50ms (fallback_delay) until 100 "
                    "were seen\n"
                    "suppressed by the total deadline: 1 (no hedge starts with less than 30ms "
                    "left)\n"
                    "a failure (transient, throttled) starts the next attempt at once; the first "
                    "success wins and the others are cancelled\n"
                    "budget: hedges stay within 20% of the calls of the last 10s, plus 10 per "
                    "second: under sustained failure about 1.2 calls per request\n"
                    "max calls per request: 2\n"
                    "a call that is not idempotent runs one attempt\n");
    retry_budget_settings tokens;
    tokens.kind = retry_budget_settings::budget_kind::tokens;
    EXPECT_EQ(budget_effect(tokens, "retries"),
              "budget: retries start only while tokens > 50 (of 100; a failure takes 1, a "
              "success adds 0.1)\n");
    EXPECT_EQ(budget_effect(std::nullopt, "retries"), "");
}

TEST_F(config_schedule_versus_pipeline, hanging_hedges_start_at_the_planned_starts) {
    hedge_settings h = hedge_of(4, 50ms);
    h.min_remaining = 60ms;
    pipeline_policy p = make(1, backoff_kind::constant, jitter_kind::none, 200ms, 200ms);
    auto chain = std::make_shared<strategy_chain>();
    chain->parallel = std::make_shared<hedging>(h);
    p.strategies = chain;
    const hedge_plan plan = plan_hedges(h, p);
    ASSERT_EQ(plan.starts, (std::vector<ns>{0ms, 50ms, 100ms})) << "150 ms leaves 50 ms";

    basic_pipeline<test::manual_timer, null_observer, asio::any_io_executor, strategy_chain> pipe(
        context, "dep", p);
    test::scripted_op op(context, {test::hang()});
    test::completion c;
    const auto begin = test::manual_clock::now();
    pipe.async_run(keel::idempotent(std::ref(op)), test::record(c));
    test::run_for(context, 1s, [&] { return c.done(); });
    ASSERT_TRUE(c.done());
    std::vector<ns> seen;
    for (const test::seen_attempt& s : op.seen())
        seen.push_back(s.started - begin);
    EXPECT_EQ(seen, plan.starts);
}

} // namespace
} // namespace keel::config
