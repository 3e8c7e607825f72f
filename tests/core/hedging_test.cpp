// keel::hedging's numbers: the delay before each further attempt (fixed, or
// a quantile of recent successes after min_samples, the fallback before),
// what ends hedging, the percentile names, and the settings it refuses.
#include <keel/hedging.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

namespace keel::test {
namespace {

using namespace std::chrono_literals;
using nanos = std::chrono::nanoseconds;

hedge_settings fixed(int attempts, nanos delay) {
    hedge_settings s;
    s.max_attempts = attempts;
    s.delay = delay;
    return s;
}

hedge_settings quantile(double q, int min_samples, nanos fallback) {
    hedge_settings s;
    s.max_attempts = 3;
    s.delay_quantile = q;
    s.min_samples = min_samples;
    s.fallback_delay = fallback;
    return s;
}

TEST(hedging, a_fixed_delay_spaces_every_further_attempt_up_to_max_attempts) {
    hedging h(fixed(3, 50ms));
    EXPECT_EQ(h.max_in_flight(), 3);
    EXPECT_EQ(h.delay_before(1), std::nullopt) << "the first attempt is not a hedge";
    EXPECT_EQ(h.delay_before(2), nanos(50ms));
    EXPECT_EQ(h.delay_before(3), nanos(50ms));
    EXPECT_EQ(h.delay_before(4), std::nullopt);
    EXPECT_EQ(h.min_remaining(), nanos(50ms)) << "by default, the delay";
    h.record_success(1s);
    EXPECT_EQ(h.current_delay(), nanos(50ms)) << "a fixed delay keeps no samples";
    EXPECT_EQ(h.samples(), 0);
}

TEST(hedging, min_remaining_is_its_own_when_set) {
    hedge_settings s = fixed(3, 50ms);
    s.min_remaining = 20ms;
    EXPECT_EQ(hedging(s).min_remaining(), nanos(20ms));
}

TEST(hedging, non_fatal_classes_are_transient_and_throttled_by_default) {
    hedging h(fixed(2, 10ms));
    EXPECT_TRUE(h.non_fatal(fault_class::transient));
    EXPECT_TRUE(h.non_fatal(fault_class::throttled));
    EXPECT_FALSE(h.non_fatal(fault_class::permanent)) << "an HTTP 400 ends the call";
    EXPECT_FALSE(h.non_fatal(fault_class::timeout));
}

TEST(hedging, a_quantile_delay_is_the_fallback_until_min_samples_then_the_nearest_rank) {
    hedging h(quantile(0.95, 100, 50ms));
    // 1 ms, 2 ms, ..., 99 ms: one short of min_samples.
    for (int i = 1; i < 100; ++i)
        h.record_success(std::chrono::milliseconds(i));
    EXPECT_EQ(h.current_delay(), nanos(50ms)) << "99 samples: still the fallback";
    h.record_success(100ms);
    // 1..100 ms: the 95th smallest of 100.
    EXPECT_EQ(h.current_delay(), nanos(95ms));
    EXPECT_EQ(h.delay_before(2), nanos(95ms));
    EXPECT_EQ(h.min_remaining(), nanos(95ms)) << "unset: the delay in force";
}

TEST(hedging, the_quantile_follows_recent_samples_refreshed_every_sixteen) {
    hedging h(quantile(0.5, 10, 50ms));
    for (int i = 0; i < 10; ++i)
        h.record_success(10ms);
    EXPECT_EQ(h.current_delay(), nanos(10ms));
    // 15 slower samples: not yet refreshed.
    for (int i = 0; i < hedging::refresh_every - 1; ++i)
        h.record_success(30ms);
    EXPECT_EQ(h.current_delay(), nanos(10ms));
    h.record_success(30ms); // the 16th since: 16 of 26 samples are 30 ms
    EXPECT_EQ(h.current_delay(), nanos(30ms));
}

TEST(hedging, the_quantile_forgets_samples_older_than_its_window) {
    hedging h(quantile(0.99, 1, 50ms));
    for (int i = 0; i < hedging::quantile_window; ++i)
        h.record_success(900ms);
    EXPECT_EQ(h.current_delay(), nanos(900ms));
    // A whole window of faster answers replaces every slow one (seen at
    // the next refresh).
    for (int i = 0; i < hedging::quantile_window + hedging::refresh_every; ++i)
        h.record_success(20ms);
    EXPECT_EQ(h.current_delay(), nanos(20ms));
    EXPECT_EQ(h.samples(), 2 * hedging::quantile_window + hedging::refresh_every);
}

TEST(hedging, threads_recording_at_once_lose_no_sample) {
    hedging h(quantile(0.5, 1, 50ms));
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&h] {
            for (int i = 0; i < 2000; ++i)
                h.record_success(5ms);
        });
    for (auto& t : threads)
        t.join();
    EXPECT_EQ(h.samples(), 8000);
    EXPECT_EQ(h.current_delay(), nanos(5ms));
}

TEST(hedging, nearest_rank_is_the_ceil_q_n_th_smallest) {
    std::vector<std::int64_t> v{5, 1, 4, 2, 3};
    EXPECT_EQ(detail::nearest_rank(v, 0.5), 3);  // ceil(2.5) = 3rd
    EXPECT_EQ(detail::nearest_rank(v, 0.2), 1);  // ceil(1.0) = 1st
    EXPECT_EQ(detail::nearest_rank(v, 0.21), 2); // ceil(1.05) = 2nd
    EXPECT_EQ(detail::nearest_rank(v, 0.99), 5);
    std::vector<std::int64_t> one{7};
    EXPECT_EQ(detail::nearest_rank(one, 0.01), 7);
}

TEST(hedging, percentiles_read_and_write_back) {
    EXPECT_DOUBLE_EQ(*parse_quantile("p95").quantile, 0.95);
    EXPECT_DOUBLE_EQ(*parse_quantile("p50").quantile, 0.5);
    EXPECT_DOUBLE_EQ(*parse_quantile("p99.9").quantile, 0.999);
    EXPECT_EQ(quantile_name(0.95), "p95");
    EXPECT_EQ(quantile_name(0.999), "p99.9");
    for (const char* bad : {"95", "p", "p0", "p100", "p101", "p-5", "p9x", "P95", "p 95"}) {
        const quantile_parse_result r = parse_quantile(bad);
        EXPECT_FALSE(r) << bad;
        EXPECT_NE(r.error.find(bad), std::string::npos) << "the error quotes the text: " << r.error;
    }
}

TEST(hedging, impossible_settings_are_refused_with_the_key) {
    const auto message = [](hedge_settings s) {
        try {
            hedging h(s);
        } catch (const std::invalid_argument& e) {
            return std::string(e.what());
        }
        return std::string("accepted");
    };
    EXPECT_NE(message(fixed(1, 10ms)).find("hedge.max_attempts"), std::string::npos);
    EXPECT_NE(message(fixed(6, 10ms)).find("hedge.max_attempts"), std::string::npos);
    EXPECT_NE(message(fixed(2, -1ms)).find("hedge.delay"), std::string::npos);
    EXPECT_NE(message(quantile(1.0, 10, 1ms)).find("hedge.delay"), std::string::npos);
    EXPECT_NE(message(quantile(0.9, 0, 1ms)).find("hedge.min_samples"), std::string::npos);
    EXPECT_NE(message(quantile(0.9, hedging::quantile_window + 1, 1ms)).find("hedge.min_samples"),
              std::string::npos);
    EXPECT_NE(message(quantile(0.9, 10, -1ms)).find("hedge.fallback_delay"), std::string::npos);
    EXPECT_EQ(message(fixed(2, 0ms)), "accepted") << "delay 0: every attempt at once (gRPC)";
}

} // namespace
} // namespace keel::test
