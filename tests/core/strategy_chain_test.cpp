// The strategy seams through the real driver, on the manual clock: a refusal
// before any attempt, permits held until the operation has completed, the
// retry gate, and the example of docs/architecture.md.
#include <keel/fallback.hpp>
#include <keel/pipeline.hpp>
#include <keel/strategy.hpp>
#include <keel/strategy_registry.hpp>

#include "support/scripted_op.hpp"
#include "support/slow_to_cancel.hpp"
#include "support/test_fallback.hpp"
#include <asio/bind_cancellation_slot.hpp>
#include <asio/compose.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/steady_timer.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <thread>

namespace keel::test {
namespace {

using chain_pipeline =
    basic_pipeline<manual_timer, null_observer, asio::any_io_executor, strategy_chain>;

// The example of docs/architecture.md, as written there.
struct at_most_n final : keel::admission_strategy {
    explicit at_most_n(int n) : free(n) {}
    std::atomic<int> free;
    keel::admission admit(keel::clock_ticks, keel::admission_waiter&) override {
        if (free.fetch_sub(1) > 0)
            return keel::admission::admit();
        free.fetch_add(1);
        return keel::admission::reject(keel::errc::bulkhead_full);
    }
    void release(keel::clock_ticks, const keel::attempt_record*, std::uint64_t) noexcept override {
        free.fetch_add(1);
    }
};

class strategy_chain_test : public ::testing::Test {
protected:
    void SetUp() override { manual_clock::reset(); }
    asio::io_context context;
};

TEST_F(strategy_chain_test, the_documented_bulkhead_refuses_the_second_call_with_no_attempt) {
    strategy_registry registry;
    auto chain = std::make_shared<strategy_chain>();
    auto bulkhead = registry.obtain<at_most_n>("payments", "", 1);
    chain->bulkhead = bulkhead;
    pipeline_policy policy;
    policy.strategies = chain;
    chain_pipeline p(context, "payments", policy);
    scripted_op op(context, {ok(1, 10ms)});
    completion first, second;
    call_report second_report;
    p.async_run(std::ref(op), record(first));
    p.async_run(std::ref(op), second_report, record(second));
    EXPECT_EQ(second.calls, 0) << "never completed inside async_run";
    context.poll();
    ASSERT_EQ(second.calls, 1);
    EXPECT_EQ(second.ec, make_error_code(errc::bulkhead_full));
    EXPECT_TRUE(second.ec == condition::rejected);
    EXPECT_EQ(second_report.outcome, call_outcome::rejected);
    EXPECT_EQ(second_report.attempts, 0);
    EXPECT_EQ(op.calls(), 1);
    run_for(context, 1s, [&] { return first.done(); });
    EXPECT_FALSE(first.ec);
    EXPECT_EQ(bulkhead->free.load(), 1);
    EXPECT_EQ(registry.obtain<at_most_n>("payments", "", 1), bulkhead);
}

/// Holds its permit count in `held`; remembers the most held at once.
struct recording_bulkhead final : admission_strategy {
    int held = 0;
    int released = 0;
    admission admit(clock_ticks, admission_waiter&) override {
        ++held;
        return admission::admit();
    }
    void release(clock_ticks, const attempt_record*, std::uint64_t) noexcept override {
        --held;
        ++released;
    }
};

TEST_F(strategy_chain_test, a_permit_is_held_until_the_cancelled_operation_has_completed) {
    auto chain = std::make_shared<strategy_chain>();
    auto bulkhead = std::make_shared<recording_bulkhead>();
    chain->bulkhead = bulkhead;
    pipeline_policy policy;
    policy.retry.max_attempts = 1;
    policy.timeout.exchange = 100ms;
    policy.strategies = chain;
    chain_pipeline p(context, "dep", policy);
    bool completed = false;
    completion c;
    p.async_run(slow_to_cancel{&context, 30ms, &completed}, record(c));
    run_for(context, 110ms, [&] { return c.done(); });
    EXPECT_FALSE(completed) << "still lingering after keel's deadline";
    EXPECT_EQ(bulkhead->held, 1) << "the permit stays while the operation runs";
    run_for(context, 1s, [&] { return c.done(); });
    ASSERT_EQ(c.calls, 1);
    EXPECT_TRUE(completed);
    EXPECT_EQ(c.ec, make_error_code(errc::exchange_timeout));
    EXPECT_EQ(bulkhead->held, 0);
    EXPECT_EQ(bulkhead->released, 1);
}

struct counting_gate final : retry_gate {
    int allowed = 1; ///< retries it lets through
    int calls = 0;
    void on_call_start(clock_ticks) noexcept override { ++calls; }
    admission may_retry(clock_ticks, int) noexcept override {
        if (allowed > 0) {
            --allowed;
            return admission::admit();
        }
        return admission::reject(errc::retry_budget_exhausted, 2s);
    }
};

TEST_F(strategy_chain_test, the_retry_gate_stops_retries_and_the_call_keeps_its_real_error) {
    auto chain = std::make_shared<strategy_chain>();
    auto gate = std::make_shared<counting_gate>();
    chain->gate = gate;
    pipeline_policy policy;
    policy.retry.max_attempts = 5;
    policy.retry.backoff.kind = backoff_kind::constant;
    policy.retry.backoff.initial = 10ms;
    policy.retry.backoff.jitter = jitter_kind::none;
    policy.strategies = chain;
    chain_pipeline p(context, "dep", policy);
    scripted_op op(context, {fail(asio::error::connection_refused)});
    completion c;
    call_report report;
    p.async_run(std::ref(op), report, record(c));
    run_for(context, 1s, [&] { return c.done(); });
    ASSERT_EQ(c.calls, 1);
    EXPECT_EQ(c.ec, std::error_code(asio::error::connection_refused));
    EXPECT_EQ(op.calls(), 2) << "one retry allowed, the second refused";
    EXPECT_EQ(gate->calls, 1);
    EXPECT_EQ(report.reason, give_up_reason::rejected);
    EXPECT_EQ(report.refusal, make_error_code(errc::retry_budget_exhausted));
    ASSERT_TRUE(report.retry_after);
    EXPECT_EQ(*report.retry_after, 2s);
}

TEST_F(strategy_chain_test, an_empty_chain_behaves_as_no_chain) {
    pipeline_policy policy = {};
    policy.retry.backoff.kind = backoff_kind::constant;
    policy.retry.backoff.initial = 10ms;
    policy.retry.backoff.jitter = jitter_kind::none;
    policy.strategies = std::make_shared<strategy_chain>();
    chain_pipeline p(context, "dep", policy);
    scripted_op op(context, {fail(asio::error::connection_refused), ok(3)});
    completion c;
    call_report report;
    p.async_run(std::ref(op), report, record(c));
    run_for(context, 1s, [&] { return c.done(); });
    EXPECT_FALSE(c.ec);
    EXPECT_EQ(c.value, 3);
    EXPECT_EQ(report.attempts, 2);
    EXPECT_EQ(op.seen()[1].started - op.seen()[0].started, 10ms);
}

TEST_F(strategy_chain_test, a_fallback_answers_when_the_retries_ran_out) {
    pipeline_policy policy;
    policy.retry.max_attempts = 2;
    policy.retry.backoff.jitter = jitter_kind::none;
    policy.timeout.total = 10s;
    basic_pipeline<manual_timer> p(context, "dep", policy);
    scripted_op op(context, {fail(asio::error::connection_refused)});
    std::vector<fallback_context> seen;
    completion c;
    call_report report;
    p.async_run(with_fallback(std::ref(op), test_fallback{&context, {}, 99, &seen}), report,
                record(c));
    run_for(context, 5s, [&] { return c.done(); });
    ASSERT_EQ(c.calls, 1);
    EXPECT_FALSE(c.ec);
    EXPECT_EQ(c.value, 99);
    EXPECT_EQ(op.calls(), 2);
    EXPECT_EQ(report.outcome, call_outcome::fallback);
    EXPECT_EQ(report.original_error, std::error_code(asio::error::connection_refused));
    EXPECT_EQ(report.original_fault, fault_class::transient);
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].error, std::error_code(asio::error::connection_refused));
    EXPECT_EQ(seen[0].report.attempts, 2);
    EXPECT_GT(seen[0].time_left, 9s);
}

TEST_F(strategy_chain_test, a_failed_fallback_leaves_the_calls_error_and_values) {
    basic_pipeline<manual_timer> p(context, "dep", {});
    scripted_op op(context, {fail(asio::error::connection_refused)});
    std::vector<fallback_context> seen;
    completion c;
    call_report report;
    p.async_run(with_fallback(std::ref(op),
                              test_fallback{&context, asio::error::host_unreachable, 99, &seen}),
                report, record(c));
    run_for(context, 5s, [&] { return c.done(); });
    ASSERT_EQ(c.calls, 1);
    EXPECT_EQ(c.ec, std::error_code(asio::error::connection_refused));
    EXPECT_EQ(c.value, 0);
    EXPECT_EQ(report.fallback_error, std::error_code(asio::error::host_unreachable));
    EXPECT_EQ(report.outcome, call_outcome::failure_after_retry);
    EXPECT_EQ(report.original_error, std::error_code(asio::error::connection_refused));
    EXPECT_EQ(report.original_fault, fault_class::transient);
}

TEST_F(strategy_chain_test, a_fallback_answers_a_refusal_with_no_attempt) {
    auto chain = std::make_shared<strategy_chain>();
    chain->bulkhead = std::make_shared<at_most_n>(0);
    pipeline_policy policy;
    policy.strategies = chain;
    chain_pipeline p(context, "dep", policy);
    scripted_op op(context, {ok(1)});
    std::vector<fallback_context> seen;
    completion c;
    call_report report;
    p.async_run(with_fallback(std::ref(op), test_fallback{&context, {}, 5, &seen}), report,
                record(c));
    EXPECT_EQ(c.calls, 0);
    run_for(context, 1s, [&] { return c.done(); });
    EXPECT_FALSE(c.ec);
    EXPECT_EQ(c.value, 5);
    EXPECT_EQ(op.calls(), 0);
    EXPECT_EQ(report.attempts, 0);
    EXPECT_EQ(report.outcome, call_outcome::fallback);
    EXPECT_EQ(report.original_error, make_error_code(errc::bulkhead_full));
    EXPECT_EQ(report.original_fault, fault_class::rejected);
}

/// A bulkhead whose attempts queue for a permit: a freed permit passes
/// straight to the first waiter.
struct queueing_bulkhead final : admission_strategy {
    explicit queueing_bulkhead(int permits, std::chrono::nanoseconds max_wait)
        : free(permits), max_wait(max_wait) {}
    std::mutex mutex;
    int free;
    int in_use = 0;
    int most_in_use = 0;
    std::chrono::nanoseconds max_wait;
    std::deque<admission_waiter*> queue;

    admission admit(clock_ticks, admission_waiter& w) override {
        std::lock_guard lock(mutex);
        if (free > 0) {
            --free;
            most_in_use = std::max(most_in_use, ++in_use);
            return admission::admit();
        }
        queue.push_back(&w);
        return admission::wait_at_most(max_wait, errc::bulkhead_timeout);
    }
    void release(clock_ticks, const attempt_record*, std::uint64_t) noexcept override {
        admission_waiter* next = nullptr;
        {
            std::lock_guard lock(mutex);
            if (queue.empty()) {
                ++free;
                --in_use;
            } else {
                next = queue.front(); // the permit passes on: in_use unchanged
                queue.pop_front();
            }
        }
        if (next)
            next->admitted(); // outside the lock, as admission_waiter asks
    }
    bool withdraw(admission_waiter& w) noexcept override {
        std::lock_guard lock(mutex);
        auto it = std::find(queue.begin(), queue.end(), &w);
        if (it == queue.end())
            return false;
        queue.erase(it);
        return true;
    }
};

TEST_F(strategy_chain_test, a_second_call_waits_for_the_first_ones_permit) {
    auto chain = std::make_shared<strategy_chain>();
    auto bulkhead = std::make_shared<queueing_bulkhead>(1, 1s);
    chain->bulkhead = bulkhead;
    pipeline_policy policy;
    policy.strategies = chain;
    chain_pipeline p(context, "dep", policy);
    scripted_op op(context, {ok(1, 30ms)}); // each call's first attempt
    completion first, second;
    p.async_run(std::ref(op), record(first));
    p.async_run(std::ref(op), record(second));
    run_for(context, 20ms);
    EXPECT_EQ(op.calls(), 1) << "the second call waits";
    run_for(context, 1s, [&] { return second.done(); });
    EXPECT_EQ(first.value, 1);
    EXPECT_EQ(second.value, 1);
    ASSERT_EQ(op.calls(), 2);
    EXPECT_EQ(op.seen()[1].started - op.seen()[0].started, 30ms)
        << "it started when the first one's permit came free";
    EXPECT_EQ(bulkhead->most_in_use, 1);
    EXPECT_EQ(bulkhead->free, 1);
}

TEST_F(strategy_chain_test, a_wait_that_runs_out_refuses_the_call) {
    auto chain = std::make_shared<strategy_chain>();
    auto bulkhead = std::make_shared<queueing_bulkhead>(1, 10ms);
    chain->bulkhead = bulkhead;
    pipeline_policy policy;
    policy.strategies = chain;
    chain_pipeline p(context, "dep", policy);
    scripted_op op(context, {ok(1, 50ms)});
    completion first, second;
    call_report report;
    p.async_run(std::ref(op), record(first));
    p.async_run(std::ref(op), report, record(second));
    run_for(context, 1s, [&] { return first.done() && second.done(); });
    EXPECT_EQ(second.ec, make_error_code(errc::bulkhead_timeout));
    EXPECT_EQ(report.outcome, call_outcome::rejected);
    EXPECT_EQ(op.calls(), 1);
    EXPECT_TRUE(bulkhead->queue.empty());
    EXPECT_EQ(bulkhead->free, 1);
}

TEST(strategy_chain_threads, calls_queue_for_one_permit_across_two_threads) {
    asio::io_context context;
    auto chain = std::make_shared<strategy_chain>();
    auto bulkhead = std::make_shared<queueing_bulkhead>(1, 10s);
    chain->bulkhead = bulkhead;
    pipeline_policy policy;
    policy.strategies = chain;
    basic_pipeline<asio::steady_timer, null_observer, asio::any_io_executor, strategy_chain> p(
        context, "dep", policy);
    auto work = asio::make_work_guard(context);
    std::thread a([&] { context.run(); });
    std::thread b([&] { context.run(); });
    constexpr int calls = 64;
    std::atomic<int> done{0};
    std::atomic<int> running{0};
    std::atomic<int> overlapped{0};
    auto op = [&](const attempt&, auto&& token) {
        return asio::async_compose<decltype(token), void(std::error_code, int)>(
            [&, timer = std::make_shared<asio::steady_timer>(context, 100us),
             started = false](auto& self, std::error_code = {}) mutable {
                if (!started) {
                    started = true;
                    if (++running > 1)
                        ++overlapped;
                    timer->async_wait(std::move(self));
                    return;
                }
                --running;
                self.complete({}, 1);
            },
            token, context);
    };
    std::promise<void> all_done;
    for (int i = 0; i < calls; ++i)
        asio::post(context, [&] {
            p.async_run(op, [&](std::error_code ec, int) {
                EXPECT_FALSE(ec);
                if (++done == calls)
                    all_done.set_value();
            });
        });
    EXPECT_EQ(all_done.get_future().wait_for(10s), std::future_status::ready);
    work.reset();
    a.join();
    b.join();
    EXPECT_EQ(done.load(), calls);
    EXPECT_EQ(overlapped.load(), 0) << "one permit: never two operations at once";
    EXPECT_EQ(bulkhead->free, 1);
    EXPECT_TRUE(bulkhead->queue.empty());
}

} // namespace
} // namespace keel::test
