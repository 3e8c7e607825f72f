// Two attempts of one call in flight at once, through a test strategy of the
// parallel-attempts seam: the first success wins, the loser gets terminal
// cancellation and completes before the caller's handler runs. Run under
// ASan and TSan (the second test uses two threads and no strand).
#include <keel/idempotent.hpp>
#include <keel/pipeline.hpp>
#include <keel/strategy.hpp>

#include "support/scripted_op.hpp"
#include <asio/compose.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_future.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace keel::test {
namespace {

/// Starts attempt N+1 `delay` after attempt N, two at most in flight.
struct start_another_after final : parallel_attempts {
    std::chrono::nanoseconds delay;
    explicit start_another_after(std::chrono::nanoseconds d) : delay(d) {}
    int max_in_flight() const noexcept override { return 2; }
    std::optional<std::chrono::nanoseconds> delay_before(int) const noexcept override {
        return delay;
    }
};

/// Counts permits taken and given back; fails the test if one is given back
/// twice or while the count is zero.
struct counting_bulkhead final : admission_strategy {
    std::atomic<int> held{0};
    std::atomic<int> most{0};
    std::atomic<int> admitted{0};
    admission admit(clock_ticks, admission_waiter&) override {
        const int now_held = ++held;
        ++admitted;
        int seen = most.load();
        while (now_held > seen && !most.compare_exchange_weak(seen, now_held)) {
        }
        return admission::admit();
    }
    void release(clock_ticks, const attempt_record*, std::uint64_t) noexcept override { --held; }
};

pipeline_policy hedged(std::chrono::nanoseconds delay,
                       std::shared_ptr<admission_strategy> bulkhead = nullptr) {
    pipeline_policy p;
    p.retry.max_attempts = 2;
    auto chain = std::make_shared<strategy_chain>();
    chain->parallel = std::make_shared<start_another_after>(delay);
    chain->bulkhead = std::move(bulkhead);
    p.strategies = chain;
    return p;
}

/// Attempt 1 waits a week on the manual clock, attempt 2 answers 7 after
/// 5 ms; each writes a line when it completes.
struct slow_then_fast {
    asio::io_context* context;
    std::vector<std::string>* log;

    template <class Token>
    auto operator()(const manual_attempt& attempt, Token&& token) {
        const int number = attempt.number();
        auto timer = std::make_shared<manual_timer>(
            *context, number == 1 ? std::chrono::nanoseconds(std::chrono::hours(168))
                                  : std::chrono::nanoseconds(5ms));
        return asio::async_compose<Token, void(std::error_code, int)>(
            [timer, number, log = log, started = false](auto& self,
                                                        std::error_code ec = {}) mutable {
                if (!started) {
                    started = true;
                    timer->async_wait(std::move(self));
                    return;
                }
                log->push_back("attempt " + std::to_string(number) +
                               (ec ? " cancelled" : " answered"));
                self.complete(ec, ec ? 0 : 7);
            },
            token, *context);
    }
};

TEST(parallel_attempts, the_loser_is_cancelled_and_completes_before_the_callers_handler) {
    manual_clock::reset();
    asio::io_context context;
    auto bulkhead = std::make_shared<counting_bulkhead>();
    basic_pipeline<manual_timer, null_observer, asio::any_io_executor, strategy_chain> p(
        context, "dep", hedged(10ms, bulkhead));
    std::vector<std::string> log;
    call_report report;
    completion c;
    p.async_run(keel::idempotent(slow_then_fast{&context, &log}), report,
                [&](std::error_code ec, int value) {
                    log.push_back("handler");
                    record(c)(ec, value);
                });
    run_for(context, 1s, [&] { return c.done(); });
    ASSERT_EQ(c.calls, 1);
    EXPECT_FALSE(c.ec);
    EXPECT_EQ(c.value, 7) << "the winner's value";
    const std::vector<std::string> expected = {"attempt 2 answered", "attempt 1 cancelled",
                                               "handler"};
    EXPECT_EQ(log, expected);
    EXPECT_EQ(report.attempts, 2);
    EXPECT_EQ(bulkhead->admitted.load(), 2);
    EXPECT_EQ(bulkhead->most.load(), 2);
    EXPECT_EQ(bulkhead->held.load(), 0) << "both permits given back";
    run_for(context, 10ms);
    EXPECT_EQ(c.calls, 1);
}

TEST(parallel_attempts, without_a_parallel_strategy_the_same_call_waits_for_the_slow_attempt) {
    manual_clock::reset();
    asio::io_context context;
    pipeline_policy policy;
    policy.timeout.exchange = 50ms;
    policy.retry.backoff.jitter = jitter_kind::none;
    policy.retry.backoff.initial = 1ms;
    policy.strategies = std::make_shared<strategy_chain>(); // every seam, none configured
    basic_pipeline<manual_timer, null_observer, asio::any_io_executor, strategy_chain> p(
        context, "dep", policy);
    std::vector<std::string> log;
    completion c;
    p.async_run(slow_then_fast{&context, &log}, record(c));
    run_for(context, 1s, [&] { return c.done(); });
    ASSERT_EQ(c.calls, 1);
    EXPECT_EQ(c.value, 7);
    const std::vector<std::string> expected = {"attempt 1 cancelled", "attempt 2 answered"};
    EXPECT_EQ(log, expected) << "one attempt at a time: the first timed out, then a retry";
}

/// On a real clock and two threads: attempt 1 waits 10 s, attempt 2 answers
/// at once from another handler. Records when the loser has completed.
struct threaded_op {
    asio::io_context* context;
    std::atomic<int>* losers_done;

    template <class Token>
    auto operator()(const attempt& a, Token&& token) {
        auto timer = std::make_shared<asio::steady_timer>(
            *context,
            a.number() == 1 ? std::chrono::nanoseconds(10s) : std::chrono::nanoseconds(0));
        const bool loser = a.number() == 1;
        return asio::async_compose<Token, void(std::error_code, int)>(
            [timer, loser, losers_done = losers_done,
             started = false](auto& self, std::error_code ec = {}) mutable {
                if (!started) {
                    started = true;
                    timer->async_wait(std::move(self));
                    return;
                }
                if (loser)
                    losers_done->fetch_add(1);
                self.complete(ec, ec ? 0 : 7);
            },
            token, *context);
    }
};

TEST(parallel_attempts, on_two_threads_every_callers_handler_runs_after_its_loser) {
    asio::io_context context;
    auto bulkhead = std::make_shared<counting_bulkhead>();
    basic_pipeline<asio::steady_timer, null_observer, asio::any_io_executor, strategy_chain> p(
        context, "dep", hedged(1ms, bulkhead));
    auto work = asio::make_work_guard(context);
    std::thread a([&] { context.run(); });
    std::thread b([&] { context.run(); });
    constexpr int calls = 100;
    int ordered = 0;
    for (int i = 0; i < calls; ++i) {
        std::atomic<int> losers_done{0};
        std::promise<int> seen_at_handler;
        auto result = seen_at_handler.get_future();
        p.async_run(keel::idempotent(threaded_op{&context, &losers_done}),
                    [&](std::error_code ec, int value) {
                        EXPECT_FALSE(ec);
                        EXPECT_EQ(value, 7);
                        seen_at_handler.set_value(losers_done.load());
                    });
        ASSERT_EQ(result.wait_for(5s), std::future_status::ready) << "call " << i;
        ordered += result.get() == 1 ? 1 : 0;
    }
    work.reset();
    a.join();
    b.join();
    EXPECT_EQ(ordered, calls) << "the handler ran before its losing attempt had completed";
    EXPECT_EQ(bulkhead->held.load(), 0);
    EXPECT_LE(bulkhead->most.load(), 2);
    EXPECT_EQ(bulkhead->admitted.load(), 2 * calls);
}

} // namespace
} // namespace keel::test
