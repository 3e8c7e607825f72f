// keel::last_good_cache on the manual clock: a value younger than max_age
// answers a failed call through with_fallback and says its age; an older one,
// an unknown key or a permanent error leaves the call's own error; the cache
// keeps at most max_entries keys, forgetting the one remembered longest ago.
#include <keel/last_good.hpp>
#include <keel/pipeline.hpp>

#include "support/scripted_op.hpp"
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace keel::test {
namespace {

using cache_type = last_good_cache<std::string, int, manual_clock>;

/// "k<n>", appended: g++ 12 warns falsely on "k" + std::to_string(n).
std::string key_of(int n) {
    std::string key(1, 'k');
    key += std::to_string(n);
    return key;
}

class last_good_test : public ::testing::Test {
protected:
    last_good_test() {
        policy.retry.max_attempts = 1;
        policy.timeout.total = 10s;
    }

    /// One call whose every attempt fails with `error`, answered from
    /// `cache` for `key`.
    completion call(cache_type& cache, const std::string& key, std::error_code error,
                    stale_mark& mark, call_report& report) {
        basic_pipeline<manual_timer> p(context, "orders-read-model", policy);
        scripted_op op(context, {fail(error)});
        completion c;
        p.async_run(with_fallback(std::ref(op), cache.fallback(key, &mark)), report, record(c));
        EXPECT_EQ(c.calls, 0) << "never inside async_run";
        run_for(context, 1s, [&] { return c.done(); });
        return c;
    }

    asio::io_context context;
    pipeline_policy policy;
};

TEST_F(last_good_test, a_failed_call_is_answered_with_a_value_younger_than_max_age_and_its_age) {
    cache_type cache(30s);
    cache.remember("order-7", 42);
    manual_clock::advance(12s);
    stale_mark mark;
    call_report report;
    const completion c = call(cache, "order-7", asio::error::connection_refused, mark, report);
    ASSERT_EQ(c.calls, 1);
    EXPECT_FALSE(c.ec);
    EXPECT_EQ(c.value, 42);
    EXPECT_TRUE(mark.stale);
    EXPECT_EQ(mark.age, std::chrono::nanoseconds(12s));
    EXPECT_EQ(report.outcome, call_outcome::fallback);
    EXPECT_EQ(report.original_error, std::error_code(asio::error::connection_refused));
}

TEST_F(last_good_test, a_value_as_old_as_max_age_is_not_served) {
    cache_type cache(30s);
    cache.remember("order-7", 42);
    manual_clock::advance(30s);
    stale_mark mark;
    call_report report;
    const completion c = call(cache, "order-7", asio::error::connection_refused, mark, report);
    ASSERT_EQ(c.calls, 1);
    EXPECT_EQ(c.ec, std::error_code(asio::error::connection_refused)) << "the call's own error";
    EXPECT_FALSE(mark.stale);
    EXPECT_EQ(report.fallback_error, std::error_code(asio::error::connection_refused));
}

TEST_F(last_good_test, with_a_max_age_of_60s_a_value_is_served_at_59s_and_not_at_61s) {
    cache_type cache(60s);
    cache.remember("order-7", 42);
    manual_clock::advance(59s);
    stale_mark at_59s;
    call_report first;
    const completion served = call(cache, "order-7", asio::error::timed_out, at_59s, first);
    EXPECT_FALSE(served.ec);
    EXPECT_EQ(served.value, 42);
    EXPECT_TRUE(at_59s.stale);
    EXPECT_EQ(at_59s.age, std::chrono::nanoseconds(59s));

    // The first call took no time on the manual clock; 2 s more make 61 s.
    manual_clock::advance(2s);
    stale_mark at_61s;
    call_report second;
    const completion refused = call(cache, "order-7", asio::error::timed_out, at_61s, second);
    EXPECT_EQ(refused.ec, std::error_code(asio::error::timed_out));
    EXPECT_FALSE(at_61s.stale);
    EXPECT_EQ(second.outcome, call_outcome::timeout);
}

TEST_F(last_good_test, an_unknown_key_leaves_the_calls_error) {
    cache_type cache(30s);
    cache.remember("order-7", 42);
    stale_mark mark;
    call_report report;
    const completion c = call(cache, "order-8", asio::error::timed_out, mark, report);
    EXPECT_EQ(c.ec, std::error_code(asio::error::timed_out));
    EXPECT_FALSE(mark.stale);
}

TEST_F(last_good_test, remembering_again_makes_the_value_young_again) {
    cache_type cache(10s);
    cache.remember("k", 1);
    manual_clock::advance(8s);
    cache.remember("k", 2);
    manual_clock::advance(5s);
    const auto kept = cache.recall("k");
    ASSERT_TRUE(kept);
    EXPECT_EQ(kept->value, 2);
    EXPECT_EQ(kept->age, std::chrono::nanoseconds(5s));
}

TEST_F(last_good_test, a_full_cache_forgets_the_key_remembered_longest_ago) {
    cache_type cache(1min, 2);
    cache.remember("a", 1);
    manual_clock::advance(1s);
    cache.remember("b", 2);
    manual_clock::advance(1s);
    cache.remember("a", 3); // "a" is now the newest
    cache.remember("c", 4); // forgets "b"
    EXPECT_EQ(cache.size(), 2u);
    EXPECT_TRUE(cache.recall("a"));
    EXPECT_FALSE(cache.recall("b"));
    EXPECT_TRUE(cache.recall("c"));
}

TEST_F(last_good_test, threads_remember_and_recall_at_once) {
    cache_type cache(1min, 64);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&cache, t] {
            for (int i = 0; i < 1000; ++i) {
                cache.remember(key_of((t * 1000 + i) % 100), i);
                (void)cache.recall(key_of(i % 100));
            }
        });
    for (auto& t : threads)
        t.join();
    EXPECT_EQ(cache.size(), 64u);
}

TEST(last_good, impossible_settings_are_refused) {
    EXPECT_THROW(cache_type(0s), std::invalid_argument);
    EXPECT_THROW(cache_type(1s, 0), std::invalid_argument);
}

} // namespace
} // namespace keel::test
