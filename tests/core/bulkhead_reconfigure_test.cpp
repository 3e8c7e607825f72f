// keel::bulkhead::reconfigure: a reload changes a bulkhead in place, so the
// attempts already running count against the new limit and the waiters keep
// their place; an adaptive limit keeps what it learned, clamped. Driven
// directly through admit() and release(): no clock is involved.
#include <keel/bulkhead.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

namespace keel::test {
namespace {

using namespace std::chrono_literals;
using algorithm = bulkhead_settings::adaptive_settings::algorithm_kind;

/// An attempt as the engine hands it over; remembers being admitted.
struct waiter final : admission_waiter {
    void admitted() noexcept override { ++admissions; }
    int admissions = 0;
};

bulkhead_settings fixed(int max_concurrent, int queue_max = 0) {
    bulkhead_settings s;
    s.max_concurrent = max_concurrent;
    s.queue = {queue_max, 1s};
    return s;
}

bulkhead_settings aimd(int initial, int min, int max) {
    bulkhead_settings s;
    s.adaptive.emplace();
    s.adaptive->algorithm = algorithm::aimd;
    s.adaptive->initial = initial;
    s.adaptive->min = min;
    s.adaptive->max = max;
    return s;
}

attempt_record succeeded(std::chrono::nanoseconds took = 1ms) {
    attempt_record a;
    a.duration = took;
    return a;
}

attempt_record timed_out() {
    attempt_record a;
    a.result = attempt_result::timeout;
    a.fault = fault_class::timeout;
    return a;
}

/// Admits `n` attempts, each expected to get its permit at once.
void admit_now(bulkhead& b, int n) {
    for (int i = 0; i < n; ++i) {
        waiter w;
        ASSERT_TRUE(b.admit(0ns, w).admitted) << "attempt " << i + 1;
    }
}

TEST(bulkhead_reconfigure, a_lower_limit_counts_the_attempts_already_running) {
    bulkhead b(fixed(4));
    admit_now(b, 4);
    b.reconfigure(fixed(2));
    EXPECT_EQ(b.limit(), 2);
    EXPECT_EQ(b.in_flight(), 4) << "the running attempts keep their permits";

    waiter refused;
    EXPECT_EQ(b.admit(0ns, refused).refusal, make_error_code(errc::bulkhead_full));
    const attempt_record ok = succeeded();
    b.release(0ns, &ok, 0);
    b.release(0ns, &ok, 0);
    EXPECT_EQ(b.in_flight(), 2);
    EXPECT_FALSE(b.admit(0ns, refused).admitted) << "2 still run: the new limit is reached";
    b.release(0ns, &ok, 0);
    EXPECT_TRUE(b.admit(0ns, refused).admitted);
    EXPECT_EQ(b.in_flight(), 2);
    EXPECT_EQ(b.settings().max_concurrent, 2);
}

TEST(bulkhead_reconfigure, a_higher_limit_admits_waiters_at_once_in_order) {
    bulkhead b(fixed(1, 3));
    admit_now(b, 1);
    waiter first, second, third;
    ASSERT_TRUE(b.admit(0ns, first).wait.has_value());
    ASSERT_TRUE(b.admit(0ns, second).wait.has_value());
    ASSERT_TRUE(b.admit(0ns, third).wait.has_value());

    b.reconfigure(fixed(3, 3));
    EXPECT_EQ(first.admissions, 1);
    EXPECT_EQ(second.admissions, 1);
    EXPECT_EQ(third.admissions, 0) << "1 + 2 admitted reach the new limit of 3";
    EXPECT_EQ(b.in_flight(), 3);
    EXPECT_EQ(b.queued(), 1);
    EXPECT_FALSE(b.withdraw(first)) << "an admitted waiter is out of the queue";
    EXPECT_TRUE(b.withdraw(third));
}

TEST(bulkhead_reconfigure, a_smaller_queue_keeps_its_waiters_and_refuses_new_ones) {
    bulkhead b(fixed(1, 2));
    admit_now(b, 1);
    waiter first, second;
    ASSERT_TRUE(b.admit(0ns, first).wait.has_value());
    ASSERT_TRUE(b.admit(0ns, second).wait.has_value());

    b.reconfigure(fixed(1, 0));
    EXPECT_EQ(b.queued(), 2) << "a waiter's wait was promised under the old queue";
    waiter late;
    EXPECT_EQ(b.admit(0ns, late).refusal, make_error_code(errc::bulkhead_full));
    const attempt_record ok = succeeded();
    b.release(0ns, &ok, 0);
    EXPECT_EQ(first.admissions, 1) << "still first come, first served";
    EXPECT_EQ(second.admissions, 0);
}

TEST(bulkhead_reconfigure, an_adaptive_limit_keeps_its_value_clamped_into_the_new_bounds) {
    bulkhead b(aimd(20, 1, 200));
    admit_now(b, 1);
    const attempt_record dropped = timed_out();
    b.release(0ns, &dropped, 0);
    ASSERT_EQ(b.limit(), 18);

    b.reconfigure(aimd(5, 1, 10));
    EXPECT_EQ(b.limit(), 10) << "clamped to the new max";
    b.reconfigure(aimd(20, 1, 200));
    EXPECT_EQ(b.limit(), 10) << "kept, not restarted from initial";
    b.reconfigure(aimd(20, 15, 200));
    EXPECT_EQ(b.limit(), 15) << "clamped to the new min";

    bulkhead_settings gradient = aimd(20, 4, 200);
    gradient.adaptive->algorithm = algorithm::gradient2;
    b.reconfigure(gradient);
    EXPECT_EQ(b.limit(), 15) << "another algorithm starts from the limit reached";
}

TEST(bulkhead_reconfigure, a_fixed_limit_becoming_adaptive_starts_from_initial_and_back) {
    bulkhead b(fixed(64));
    b.reconfigure(aimd(20, 1, 200));
    EXPECT_EQ(b.limit(), 20);
    b.reconfigure(fixed(7));
    EXPECT_EQ(b.limit(), 7);
    EXPECT_FALSE(b.settings().adaptive.has_value());
}

TEST(bulkhead_reconfigure, attempts_admitted_without_durations_teach_a_timed_limit_nothing) {
    bulkhead b(fixed(4));
    EXPECT_FALSE(b.needs_durations());
    admit_now(b, 4);
    bulkhead_settings timed = aimd(4, 1, 10);
    timed.adaptive->timeout = 1s;
    b.reconfigure(timed);
    EXPECT_TRUE(b.needs_durations()) << "adaptive.timeout is judged on durations";

    // Ended with no clock read: duration 0, which is no sample.
    const attempt_record unmeasured = succeeded(0ns);
    for (int i = 0; i < 4; ++i)
        b.release(0ns, &unmeasured, 0);
    EXPECT_EQ(b.limit(), 4) << "four successes at in_flight >= 2 would have raised it";

    admit_now(b, 4);
    const attempt_record measured = succeeded(5ms);
    b.release(0ns, &measured, 0);
    EXPECT_EQ(b.limit(), 5) << "an attempt admitted after the change is a sample";
}

TEST(bulkhead_reconfigure, impossible_settings_throw_and_change_nothing) {
    bulkhead b(fixed(4, 2));
    bulkhead_settings bad = aimd(20, 30, 200); // initial below min
    EXPECT_THROW(b.reconfigure(bad), std::invalid_argument);
    EXPECT_THROW(b.reconfigure(fixed(0)), std::invalid_argument);
    EXPECT_EQ(b.limit(), 4);
    EXPECT_EQ(b.settings(), fixed(4, 2));
}

TEST(bulkhead_reconfigure, reloads_racing_calls_never_exceed_the_highest_limit_in_force) {
    bulkhead b(fixed(4));
    std::atomic<bool> go{false};
    std::atomic<bool> stop{false};
    std::atomic<int> most{0};
    std::atomic<long> admitted{0};
    std::vector<std::thread> callers;
    // Eight callers against limits of at most 4: a permit lost or counted
    // twice across a change would let more than 4 in.
    for (int t = 0; t < 8; ++t)
        callers.emplace_back([&] {
            while (!go.load())
                std::this_thread::yield();
            const attempt_record ok = succeeded();
            while (!stop.load()) {
                waiter w;
                if (!b.admit(0ns, w).admitted)
                    continue;
                ++admitted;
                const int now = b.in_flight();
                int seen = most.load();
                while (now > seen && !most.compare_exchange_weak(seen, now)) {
                }
                b.release(0ns, &ok, 0);
            }
        });
    go = true;
    // Reloads go on while the callers run: until they have made many calls.
    for (int i = 0; admitted.load() < 20000; ++i)
        b.reconfigure(i % 2 ? fixed(4) : aimd(2, 1, 3));
    stop = true;
    for (auto& t : callers)
        t.join();
    EXPECT_LE(most.load(), 4);
    EXPECT_EQ(b.in_flight(), 0) << "every permit came back across the changes";
    EXPECT_EQ(b.queued(), 0);
}

} // namespace
} // namespace keel::test
