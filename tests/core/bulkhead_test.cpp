// Over 400 lines: the bulkhead's must-show rules of issue 23, read best side by side.
// keel::bulkhead: the limit, the FIFO queue and its refusals through a real
// pipeline on the manual clock; the adaptive limit's decision alone; exact
// counts on eight threads (run under TSan).
#include <keel/bulkhead.hpp>
#include <keel/pipeline.hpp>

#include "support/scripted_op.hpp"
#include "support/slow_to_cancel.hpp"
#include <asio/bind_cancellation_slot.hpp>
#include <asio/compose.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

namespace keel::test {
namespace {

using chain_pipeline =
    basic_pipeline<manual_timer, null_observer, asio::any_io_executor, strategy_chain>;
using algorithm = bulkhead_settings::adaptive_settings::algorithm_kind;

bulkhead_settings two_and_one_waiting() {
    bulkhead_settings s;
    s.max_concurrent = 2;
    s.queue = {1, 100ms};
    return s;
}

class bulkhead_test : public ::testing::Test {
protected:
    void SetUp() override { manual_clock::reset(); }

    chain_pipeline pipeline(std::shared_ptr<bulkhead> b, std::chrono::nanoseconds exchange = {}) {
        auto chain = std::make_shared<strategy_chain>();
        chain->bulkhead = std::move(b);
        pipeline_policy policy;
        policy.retry.max_attempts = 1;
        if (exchange.count() > 0)
            policy.timeout.exchange = exchange;
        policy.strategies = chain;
        return chain_pipeline(context, "dep", policy);
    }

    asio::io_context context;
};

TEST_F(bulkhead_test, the_third_waits_for_a_slot_and_the_fourth_is_refused_at_once) {
    auto b = std::make_shared<bulkhead>(two_and_one_waiting());
    auto p = pipeline(b);
    scripted_op op(context, {ok(1, 30ms)});
    completion c[4];
    call_report fourth;
    p.async_run(std::ref(op), record(c[0]));
    p.async_run(std::ref(op), record(c[1]));
    p.async_run(std::ref(op), record(c[2]));
    p.async_run(std::ref(op), fourth, record(c[3]));
    context.poll();
    EXPECT_EQ(op.calls(), 2) << "two run, the third waits";
    EXPECT_EQ(b->in_flight(), 2);
    EXPECT_EQ(b->queued(), 1);
    ASSERT_EQ(c[3].calls, 1) << "refused at once, at t=0";
    EXPECT_EQ(c[3].ec, make_error_code(errc::bulkhead_full));
    EXPECT_TRUE(c[3].ec == condition::rejected);
    EXPECT_EQ(fourth.attempts, 0);
    EXPECT_EQ(fourth.outcome, call_outcome::rejected);
    run_for(context, 1s, [&] { return c[2].done(); });
    ASSERT_EQ(op.calls(), 3);
    EXPECT_EQ(op.seen()[2].started - op.seen()[0].started, 30ms)
        << "the waiter ran when the first slot came free";
    EXPECT_EQ(c[2].value, 1);
    EXPECT_EQ(b->in_flight(), 0);
    EXPECT_EQ(b->queued(), 0);
}

TEST_F(bulkhead_test, an_unserved_waiter_ends_with_bulkhead_timeout_at_exactly_the_queue_timeout) {
    auto b = std::make_shared<bulkhead>(two_and_one_waiting());
    auto p = pipeline(b);
    scripted_op op(context, {ok(1, 500ms)});
    completion c[3];
    call_report third;
    manual_clock::time_point ended{};
    p.async_run(std::ref(op), record(c[0]));
    p.async_run(std::ref(op), record(c[1]));
    const auto start = manual_clock::now();
    p.async_run(std::ref(op), third, [&](std::error_code ec, int value) {
        ended = manual_clock::now();
        record(c[2])(ec, value);
    });
    run_for(context, 1s, [&] { return c[2].done(); });
    ASSERT_EQ(c[2].calls, 1);
    EXPECT_EQ(c[2].ec, make_error_code(errc::bulkhead_timeout));
    EXPECT_EQ(ended - start, 100ms);
    EXPECT_EQ(third.attempts, 0);
    EXPECT_EQ(op.calls(), 2);
    EXPECT_EQ(b->queued(), 0);
    EXPECT_EQ(b->in_flight(), 2) << "the two runners keep theirs";
    run_for(context, 1s, [&] { return c[0].done() && c[1].done(); });
    EXPECT_EQ(b->in_flight(), 0);
}

/// A waiter the test drives by hand: remembers whether it was admitted.
struct test_waiter final : admission_waiter {
    std::atomic<int> grants{0};
    void admitted() noexcept override { grants.fetch_add(1, std::memory_order_release); }
};

TEST_F(bulkhead_test, ten_thousand_cancelled_waiters_leave_the_capacity_whole) {
    bulkhead_settings s;
    s.max_concurrent = 2;
    s.queue = {10'000, 1s};
    bulkhead b(s);
    test_waiter runner[2];
    ASSERT_TRUE(b.admit(clock_ticks{0}, runner[0]).admitted);
    ASSERT_TRUE(b.admit(clock_ticks{0}, runner[1]).admitted);
    std::vector<test_waiter> waiters(10'000);
    for (auto& w : waiters) {
        const admission a = b.admit(clock_ticks{0}, w);
        ASSERT_TRUE(a.wait);
        EXPECT_EQ(*a.wait, 1s);
        EXPECT_EQ(a.refusal, make_error_code(errc::bulkhead_timeout));
    }
    EXPECT_EQ(b.queued(), 10'000);
    test_waiter extra;
    EXPECT_EQ(b.admit(clock_ticks{0}, extra).refusal, make_error_code(errc::bulkhead_full));
    // Out of order: every other one from the front, then the rest from the back.
    for (std::size_t i = 0; i < waiters.size(); i += 2)
        EXPECT_TRUE(b.withdraw(waiters[i]));
    for (std::size_t i = waiters.size() - 1; i < waiters.size(); i -= 2)
        EXPECT_TRUE(b.withdraw(waiters[i]));
    EXPECT_FALSE(b.withdraw(waiters[0])) << "no longer queued";
    EXPECT_EQ(b.queued(), 0);
    b.release(clock_ticks{0}, nullptr, 0);
    b.release(clock_ticks{0}, nullptr, 0);
    EXPECT_EQ(b.in_flight(), 0);
    for (const auto& w : waiters)
        EXPECT_EQ(w.grants.load(), 0);
    test_waiter again[3];
    EXPECT_TRUE(b.admit(clock_ticks{0}, again[0]).admitted);
    EXPECT_TRUE(b.admit(clock_ticks{0}, again[1]).admitted);
    EXPECT_TRUE(b.admit(clock_ticks{0}, again[2]).wait) << "capacity 2, no more";
}

TEST_F(bulkhead_test, a_freed_permit_goes_to_the_first_waiter_and_withdraw_then_says_admitted) {
    bulkhead_settings s;
    s.max_concurrent = 1;
    s.queue = {3, 1s};
    bulkhead b(s);
    test_waiter runner, w[3];
    ASSERT_TRUE(b.admit(clock_ticks{0}, runner).admitted);
    for (auto& x : w)
        ASSERT_TRUE(b.admit(clock_ticks{0}, x).wait);
    EXPECT_TRUE(b.withdraw(w[1]));
    b.release(clock_ticks{0}, nullptr, 0);
    EXPECT_EQ(w[0].grants.load(), 1);
    EXPECT_EQ(w[2].grants.load(), 0);
    EXPECT_FALSE(b.withdraw(w[0])) << "admitted already: its permit comes back by release";
    b.release(clock_ticks{0}, nullptr, 0);
    EXPECT_EQ(w[2].grants.load(), 1);
    EXPECT_EQ(b.in_flight(), 1);
}

TEST_F(bulkhead_test, an_attempt_cut_by_its_deadline_keeps_its_permit_until_it_completes) {
    bulkhead_settings s;
    s.max_concurrent = 1;
    s.queue = {1, 1s};
    auto b = std::make_shared<bulkhead>(s);
    auto p = pipeline(b, 100ms);
    bool completed = false;
    completion first, second;
    const auto start = manual_clock::now();
    p.async_run(slow_to_cancel{&context, 30ms, &completed}, record(first));
    scripted_op op(context, {ok(2)});
    p.async_run(std::ref(op), record(second));
    run_for(context, 110ms);
    EXPECT_FALSE(completed) << "still lingering after keel's deadline";
    EXPECT_EQ(b->in_flight(), 1);
    EXPECT_EQ(op.calls(), 0) << "the waiter does not run beside the lingering operation";
    run_for(context, 1s, [&] { return second.done(); });
    EXPECT_TRUE(completed);
    EXPECT_EQ(first.ec, make_error_code(errc::exchange_timeout));
    ASSERT_EQ(op.calls(), 1);
    EXPECT_EQ(op.seen()[0].started - start, 130ms)
        << "it ran when the cancelled operation had completed";
    EXPECT_EQ(second.value, 2);
    EXPECT_EQ(b->in_flight(), 0);
}

// ---- the adaptive limit alone ---------------------------------------------------

bulkhead_settings::adaptive_settings aimd_from(int initial) {
    bulkhead_settings::adaptive_settings a;
    a.initial = initial;
    return a;
}

TEST(adaptive_limit, aimd_backs_off_on_a_drop_and_grows_only_when_busy) {
    adaptive_limit l(aimd_from(20));
    EXPECT_EQ(l.on_sample(1ms, 10, true), 18) << "floor(20 * 0.9)";
    EXPECT_EQ(l.on_sample(1ms, 10, false), 19) << "10 * 2 >= 18";
    EXPECT_EQ(l.on_sample(1ms, 5, false), 19) << "5 * 2 < 19: unchanged";
}

TEST(adaptive_limit, fourteen_timeouts_from_100_end_at_19) {
    adaptive_limit l(aimd_from(100));
    attempt_record timed_out;
    timed_out.result = attempt_result::failure;
    timed_out.fault = fault_class::timeout;
    const std::vector<int> expected = {90, 81, 72, 64, 57, 51, 45, 40, 36, 32, 28, 25, 22, 19};
    std::vector<int> seen;
    for (int i = 0; i < 14; ++i)
        seen.push_back(l.on_attempt(timed_out, 1));
    EXPECT_EQ(seen, expected);
}

TEST(adaptive_limit, aimd_stays_within_min_and_max) {
    auto a = aimd_from(3);
    a.min = 2;
    a.max = 4;
    adaptive_limit l(a);
    EXPECT_EQ(l.on_sample(0ns, 3, true), 2);
    EXPECT_EQ(l.on_sample(0ns, 3, true), 2);
    EXPECT_EQ(l.on_sample(0ns, 4, false), 3);
    EXPECT_EQ(l.on_sample(0ns, 4, false), 4);
    EXPECT_EQ(l.on_sample(0ns, 4, false), 4);
}

TEST(adaptive_limit, a_drop_is_a_timeout_throttling_or_slowness) {
    auto a = aimd_from(20);
    a.timeout = 50ms;
    adaptive_limit l(a);
    attempt_record r;
    r.duration = 50ms;
    EXPECT_FALSE(l.is_drop(r));
    r.duration = 51ms;
    EXPECT_TRUE(l.is_drop(r)) << "a success slower than adaptive.timeout";
    r.duration = 1ms;
    r.result = attempt_result::failure;
    r.fault = fault_class::throttled;
    EXPECT_TRUE(l.is_drop(r));
    r.fault = fault_class::transient;
    EXPECT_FALSE(l.is_drop(r));
    r.fault = fault_class::cancelled;
    EXPECT_FALSE(l.is_drop(r));
}

TEST(adaptive_limit, gradient2_falls_when_latency_rises_and_recovers) {
    bulkhead_settings::adaptive_settings a;
    a.algorithm = algorithm::gradient2;
    a.initial = 50;
    a.min = 10;
    a.max = 100;
    adaptive_limit l(a);
    EXPECT_EQ(a.min_limit(), 10);
    for (int i = 0; i < 50; ++i)
        l.on_sample(10ms, 50, false);
    const int steady = l.limit();
    EXPECT_GT(steady, 50) << "latency steady and busy: grows by about queue_size";
    for (int i = 0; i < 20; ++i)
        l.on_sample(100ms, steady, false);
    const int spiked = l.limit();
    EXPECT_LT(spiked, steady) << "the short RTT far above the long one";
    EXPECT_GE(spiked, 10);
    for (int i = 0; i < 200; ++i)
        l.on_sample(10ms, 100, false);
    EXPECT_GT(l.limit(), spiked) << "back to normal latency";
    EXPECT_LE(l.limit(), 100);
    const int before = l.limit();
    l.on_sample(10ms, 1, false);
    EXPECT_LE(l.limit(), before) << "app-limited: no growth";
}

TEST(adaptive_limit, gradient2_counts_a_drop_as_a_sample_at_the_timeout) {
    bulkhead_settings::adaptive_settings a;
    a.algorithm = algorithm::gradient2;
    a.initial = 50;
    a.timeout = 1s;
    adaptive_limit dropped(a), answered(a);
    for (int i = 0; i < 20; ++i) {
        dropped.on_sample(10ms, 50, false);
        answered.on_sample(10ms, 50, false);
    }
    EXPECT_EQ(dropped.limit(), answered.limit());
    dropped.on_sample(10ms, 50, true);
    answered.on_sample(10ms, 50, false);
    EXPECT_LT(dropped.limit(), answered.limit()) << "a fast drop still counts as slow";
}

TEST(adaptive_limit, gradient2_defaults_are_netflixs) {
    bulkhead_settings::adaptive_settings a;
    a.algorithm = algorithm::gradient2;
    EXPECT_EQ(a.min_limit(), 20);
    EXPECT_EQ(a.initial, 20);
    EXPECT_EQ(a.max, 200);
    EXPECT_EQ(a.queue_size, 4);
    EXPECT_EQ(a.long_window, 600);
}

TEST(bulkhead_settings, impossible_values_are_named) {
    const auto message = [](const bulkhead_settings& s) {
        try {
            validate(s);
        } catch (const std::invalid_argument& e) {
            return std::string(e.what());
        }
        return std::string();
    };
    bulkhead_settings s;
    EXPECT_EQ(message(s), "");
    s.max_concurrent = 0;
    EXPECT_NE(message(s).find("max_concurrent"), std::string::npos);
    s = {};
    s.queue.max = -1;
    EXPECT_NE(message(s).find("queue.max"), std::string::npos);
    s = {};
    s.adaptive.emplace();
    s.adaptive->backoff_ratio = 1.0;
    EXPECT_NE(message(s).find("adaptive.backoff_ratio"), std::string::npos);
    s.adaptive->backoff_ratio = 0.9;
    s.adaptive->initial = 500;
    EXPECT_NE(message(s).find("adaptive.initial"), std::string::npos);
    EXPECT_THROW(bulkhead{s}, std::invalid_argument);
}

// ---- the bulkhead applies the adaptive limit ------------------------------------

TEST(bulkhead_adaptive, a_timeout_lowers_the_limit_and_a_busy_success_admits_a_waiter_more) {
    bulkhead_settings s;
    s.adaptive = aimd_from(2);
    s.queue = {4, 1s};
    bulkhead b(s);
    EXPECT_FALSE(b.needs_durations()) << "aimd without adaptive.timeout";
    EXPECT_EQ(b.limit(), 2);
    test_waiter r[2], w[3];
    ASSERT_TRUE(b.admit(clock_ticks{0}, r[0]).admitted);
    ASSERT_TRUE(b.admit(clock_ticks{0}, r[1]).admitted);
    for (auto& x : w)
        ASSERT_TRUE(b.admit(clock_ticks{0}, x).wait);
    attempt_record ok_record;
    b.release(clock_ticks{0}, &ok_record, 0); // in flight 2, limit 2 -> 3
    EXPECT_EQ(b.limit(), 3);
    EXPECT_EQ(w[0].grants.load(), 1);
    EXPECT_EQ(w[1].grants.load(), 1) << "the limit grew: two waiters admitted";
    EXPECT_EQ(b.in_flight(), 3);
    attempt_record timed_out;
    timed_out.result = attempt_result::failure;
    timed_out.fault = fault_class::timeout;
    b.release(clock_ticks{0}, &timed_out, 0); // limit 3 -> 2, in flight 2
    EXPECT_EQ(b.limit(), 2);
    EXPECT_EQ(w[2].grants.load(), 0) << "in flight 2 is the new limit";
    b.release(clock_ticks{0}, nullptr, 0); // never started: no sample
    EXPECT_EQ(b.limit(), 2);
    EXPECT_EQ(w[2].grants.load(), 1);
    auto timed = s;
    timed.adaptive->timeout = 1s;
    EXPECT_TRUE(bulkhead(timed).needs_durations());
    auto gradient = s;
    gradient.adaptive->algorithm = algorithm::gradient2;
    gradient.adaptive->min = 1;
    EXPECT_TRUE(bulkhead(gradient).needs_durations()) << "gradient2 measures every attempt";
    bulkhead_settings fixed;
    EXPECT_FALSE(bulkhead(fixed).needs_durations());
}

// ---- threads -----------------------------------------------------------------------

TEST(bulkhead_threads, eight_threads_admitting_and_releasing_give_exact_counts) {
    bulkhead_settings s;
    s.max_concurrent = 2;
    s.queue = {8, 1s}; // each thread waits at most once at a time: never full
    bulkhead b(s);
    constexpr int threads = 8;
    constexpr int rounds = 5'000;
    std::atomic<int> holding{0};
    std::atomic<int> most{0};
    std::atomic<int> admitted{0};
    std::atomic<int> waited{0};
    std::atomic<int> withdrawn{0};
    std::atomic<int> ready{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&] {
            test_waiter w;
            ready.fetch_add(1);
            while (ready.load() < threads) // all start together
                std::this_thread::yield();
            for (int i = 0; i < rounds; ++i) {
                const int before = w.grants.load(std::memory_order_acquire);
                const admission a = b.admit(clock_ticks{0}, w);
                if (!a.admitted) {
                    ASSERT_TRUE(a.wait);
                    waited.fetch_add(1);
                    // Every other wait is given up at once, racing the grants.
                    if (i % 2 == 1 && b.withdraw(w)) {
                        withdrawn.fetch_add(1);
                        continue;
                    }
                    while (w.grants.load(std::memory_order_acquire) == before)
                        std::this_thread::yield();
                }
                const int now_holding = holding.fetch_add(1) + 1;
                int seen = most.load();
                while (now_holding > seen && !most.compare_exchange_weak(seen, now_holding)) {
                }
                admitted.fetch_add(1);
                std::this_thread::yield(); // hold it a moment: the others queue
                holding.fetch_sub(1);
                b.release(clock_ticks{0}, nullptr, 0);
            }
        });
    }
    for (auto& t : pool)
        t.join();
    EXPECT_EQ(admitted.load() + withdrawn.load(), threads * rounds)
        << "every round admitted or withdrawn, never both";
    EXPECT_GT(waited.load(), 0) << "the queue was used";
    EXPECT_LE(most.load(), 2);
    EXPECT_EQ(b.in_flight(), 0);
    EXPECT_EQ(b.queued(), 0);
    RecordProperty("waited", waited.load());
    RecordProperty("withdrawn", withdrawn.load());
}

} // namespace
} // namespace keel::test
