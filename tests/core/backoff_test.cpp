// Backoff schedules are pure functions of the policy and the seed.
#include <keel/backoff.hpp>
#include <keel/retry.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>

namespace keel {
namespace {

using namespace std::chrono_literals;
using ns = std::chrono::nanoseconds;

backoff_policy make(backoff_kind kind, jitter_kind jitter) {
    backoff_policy p;
    p.kind = kind;
    p.jitter = jitter;
    p.initial = 100ms;
    p.step = 50ms;
    p.multiplier = 2.0;
    p.max = 1s;
    return p;
}

TEST(backoff, constant_linear_exponential_without_jitter) {
    EXPECT_EQ(backoff_schedule(make(backoff_kind::constant, jitter_kind::none), 4, 1),
              (std::vector<ns>{100ms, 100ms, 100ms, 100ms}));
    EXPECT_EQ(backoff_schedule(make(backoff_kind::linear, jitter_kind::none), 4, 1),
              (std::vector<ns>{100ms, 150ms, 200ms, 250ms}));
    EXPECT_EQ(backoff_schedule(make(backoff_kind::exponential, jitter_kind::none), 6, 1),
              (std::vector<ns>{100ms, 200ms, 400ms, 800ms, 1s, 1s}));
}

TEST(backoff, cap_holds_for_huge_retry_numbers) {
    auto p = make(backoff_kind::exponential, jitter_kind::none);
    EXPECT_EQ(p.base_delay(10'000), 1s);
    p.kind = backoff_kind::linear;
    EXPECT_EQ(p.base_delay(1'000'000'000), 1s);
}

TEST(backoff, full_jitter_stays_below_the_base_delay) {
    auto p = make(backoff_kind::exponential, jitter_kind::full);
    auto s = backoff_schedule(p, 200, 42);
    for (std::size_t i = 0; i < s.size(); ++i) {
        EXPECT_GE(s[i], 0ns);
        EXPECT_LT(s[i], p.base_delay(static_cast<int>(i) + 1));
    }
}

TEST(backoff, equal_jitter_keeps_half) {
    auto p = make(backoff_kind::exponential, jitter_kind::equal);
    auto s = backoff_schedule(p, 200, 42);
    for (std::size_t i = 0; i < s.size(); ++i) {
        const ns d = p.base_delay(static_cast<int>(i) + 1);
        EXPECT_GE(s[i], d / 2);
        EXPECT_LT(s[i], d);
    }
}

TEST(backoff, decorrelated_jitter_follows_its_formula) {
    auto p = make(backoff_kind::exponential, jitter_kind::decorrelated);
    auto s = backoff_schedule(p, 200, 7);
    ns previous = p.initial;
    for (ns d : s) {
        EXPECT_GE(d, p.initial);
        EXPECT_LE(d, p.max);
        EXPECT_LT(d, std::max(previous * 3, p.initial + 1ns));
        previous = d;
    }
}

TEST(backoff, same_seed_same_schedule_other_seed_other_schedule) {
    for (jitter_kind j : {jitter_kind::full, jitter_kind::equal, jitter_kind::decorrelated}) {
        auto p = make(backoff_kind::exponential, j);
        EXPECT_EQ(backoff_schedule(p, 20, 99), backoff_schedule(p, 20, 99));
        EXPECT_NE(backoff_schedule(p, 20, 99), backoff_schedule(p, 20, 100));
    }
}

TEST(backoff, exact_schedule_for_a_known_seed) {
    // Pinned values: a change here changes every user's retry timing.
    auto p = make(backoff_kind::exponential, jitter_kind::full);
    random_source r(2024);
    std::vector<ns> expected;
    for (int n = 1; n <= 5; ++n) {
        const auto span = static_cast<std::uint64_t>(p.base_delay(n).count());
        expected.emplace_back(static_cast<std::int64_t>(r.next() % span));
    }
    EXPECT_EQ(backoff_schedule(p, 5, 2024), expected);
}

TEST(random_source, uniform_bounds_and_empty_range) {
    random_source r(1);
    for (int i = 0; i < 1000; ++i) {
        auto v = r.uniform(10ns, 20ns);
        EXPECT_GE(v, 10ns);
        EXPECT_LT(v, 20ns);
    }
    EXPECT_EQ(r.uniform(5ns, 5ns), 5ns);
    EXPECT_EQ(r.uniform(5ns, 1ns), 5ns);
}

// ---- the retry decision --------------------------------------------------------

failed_attempt failure(int number, fault_class f) {
    failed_attempt a;
    a.number = number;
    a.fault = f;
    a.error = std::make_error_code(std::errc::connection_refused);
    return a;
}

TEST(retry_decision, retries_listed_faults_until_attempts_run_out) {
    retry_policy p;
    p.max_attempts = 3;
    p.backoff = make(backoff_kind::constant, jitter_kind::none);
    random_source r;
    auto d1 = p.decide(failure(1, fault_class::transient), r);
    EXPECT_TRUE(d1.retry);
    EXPECT_EQ(d1.delay, 100ms);
    EXPECT_TRUE(p.decide(failure(2, fault_class::timeout), r).retry);
    auto d3 = p.decide(failure(3, fault_class::transient), r);
    EXPECT_FALSE(d3.retry);
    EXPECT_EQ(d3.reason, give_up_reason::attempts_exhausted);
}

TEST(retry_decision, unlisted_and_cancelled_faults_are_not_retried) {
    retry_policy p;
    p.retry_on = {fault_class::transient, fault_class::cancelled};
    random_source r;
    EXPECT_EQ(p.decide(failure(1, fault_class::permanent), r).reason,
              give_up_reason::not_retryable);
    EXPECT_EQ(p.decide(failure(1, fault_class::throttled), r).reason,
              give_up_reason::not_retryable);
    EXPECT_EQ(p.decide(failure(1, fault_class::cancelled), r).reason, give_up_reason::not_retryable)
        << "cancellation is never retried, even when listed";
}

TEST(retry_decision, operation_can_forbid_a_retry) {
    retry_policy p;
    random_source r;
    auto a = failure(1, fault_class::transient);
    EXPECT_TRUE(p.decide(a, r).retry);
    a.retry_forbidden = true;
    const auto d = p.decide(a, r);
    EXPECT_FALSE(d.retry);
    EXPECT_EQ(d.reason, give_up_reason::not_retryable);
}

TEST(retry_decision, server_advised_delay_is_capped) {
    retry_policy p;
    p.retry_on.insert(fault_class::throttled);
    p.retry_after.max = 5s;
    random_source r;
    auto a = failure(1, fault_class::throttled);
    a.retry_after = 2s;
    auto d = p.decide(a, r);
    EXPECT_TRUE(d.retry);
    EXPECT_TRUE(d.server_advised);
    EXPECT_EQ(d.delay, 2s);
    a.retry_after = 1h;
    EXPECT_EQ(p.decide(a, r).delay, 5s);
    p.retry_after.honor = false;
    EXPECT_FALSE(p.decide(a, r).server_advised);
}

TEST(retry_decision, gives_up_when_the_sleep_would_pass_the_deadline) {
    retry_policy p;
    p.backoff = make(backoff_kind::constant, jitter_kind::none);
    random_source r;
    auto a = failure(1, fault_class::transient);
    a.time_left = 100ms; // equal: the next attempt would have no time at all
    auto d = p.decide(a, r);
    EXPECT_FALSE(d.retry);
    EXPECT_EQ(d.reason, give_up_reason::deadline);
    a.time_left = 101ms;
    EXPECT_TRUE(p.decide(a, r).retry);
}

TEST(retry_decision, a_sleep_fits_only_if_it_ends_before_the_deadline) {
    EXPECT_TRUE(sleep_fits(99ms, 100ms));
    EXPECT_FALSE(sleep_fits(100ms, 100ms)); // no time left for the attempt itself
    EXPECT_FALSE(sleep_fits(0ms, 0ms));
    EXPECT_TRUE(sleep_fits(24h, std::chrono::nanoseconds::max())); // no deadline
}

TEST(retry_decision, sleeps_that_fit_agree_with_sleep_fits) {
    for (const ns left : {ns(1), ns(99), ns(100), ns(101), ns(1000), ns(1001)})
        for (const ns delay : {ns(1), ns(7), ns(100), ns(1000)}) {
            const std::int64_t k = sleeps_that_fit(delay, left);
            EXPECT_TRUE(sleep_fits(k * delay, left)) << delay.count() << " " << left.count();
            EXPECT_FALSE(sleep_fits((k + 1) * delay, left)) << delay.count() << " " << left.count();
        }
    EXPECT_EQ(sleeps_that_fit(100ms, 0ms), 0);
    EXPECT_EQ(sleeps_that_fit(0ms, 1ms), std::numeric_limits<std::int64_t>::max());
    EXPECT_EQ(sleeps_that_fit(1ms, ns::max()), std::numeric_limits<std::int64_t>::max());
}

TEST(retry_decision, predicate_vetoes) {
    retry_policy p;
    p.predicate = [](const std::error_code&, fault_class f) { return f != fault_class::timeout; };
    random_source r;
    EXPECT_TRUE(p.decide(failure(1, fault_class::transient), r).retry);
    EXPECT_EQ(p.decide(failure(1, fault_class::timeout), r).reason, give_up_reason::not_retryable);
}

} // namespace
} // namespace keel
