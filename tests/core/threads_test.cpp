// Many threads and strands sharing one pipeline and one deadline queue; run
// under TSan. The clock is manual: the test thread moves it while two threads
// run the context.
#include <keel/observer.hpp>
#include <keel/pipeline.hpp>

#include "support/scripted_op.hpp"
#include <asio/bind_cancellation_slot.hpp>
#include <asio/bind_executor.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/use_future.hpp>
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <thread>

namespace keel::test {
namespace {

/// Counts events from many threads at once.
struct counting_observer : keel::observer {
    std::atomic<int> calls_started{0};
    std::atomic<int> calls_ended{0};
    std::atomic<int> retries{0};
    std::atomic<int> timeouts{0};
    void on(const events::call_start&) override { ++calls_started; }
    void on(const events::call_end&) override { ++calls_ended; }
    void on(const events::retry_scheduled&) override { ++retries; }
    void on(const events::timeout&) override { ++timeouts; }
};

using observed_pipeline = keel::basic_pipeline<manual_timer, keel::shared_observer>;

constexpr int strands = 8;
constexpr int calls_per_strand = 40;

/// One strand's chain of sequential calls; each completion starts the next.
struct chain {
    chain(asio::io_context& c, observed_pipeline& p)
        : strand(asio::make_strand(c)), pipeline(&p), context(&c) {}

    asio::strand<asio::io_context::executor_type> strand;
    observed_pipeline* pipeline;
    asio::io_context* context;
    int index = 0;
    int completed = 0;
    std::vector<int> handler_runs = std::vector<int>(calls_per_strand, 0);
    std::vector<std::error_code> results = std::vector<std::error_code>(calls_per_strand);
    std::unique_ptr<scripted_op> op;
    asio::cancellation_signal signal;
    std::atomic<bool> finished{false};

    void next() {
        if (index == calls_per_strand) {
            finished = true;
            return;
        }
        const int i = index++;
        switch (i % 4) {
        case 0:
            op = std::make_unique<scripted_op>(*context, std::vector<step>{ok(i, 3ms)});
            break;
        case 1:
            op = std::make_unique<scripted_op>(
                *context, std::vector<step>{fail(asio::error::connection_reset, 1ms), ok(i)});
            break;
        case 2:
            op = std::make_unique<scripted_op>(*context, std::vector<step>{hang()});
            break;
        case 3:
            op = std::make_unique<scripted_op>(*context, std::vector<step>{hang()});
            break;
        }
        pipeline->async_run(
            std::ref(*op),
            asio::bind_cancellation_slot(
                signal.slot(), asio::bind_executor(strand, [this, i](std::error_code ec, int) {
                    ++handler_runs[static_cast<std::size_t>(i)];
                    results[static_cast<std::size_t>(i)] = ec;
                    ++completed;
                    next();
                })));
        if (i % 4 == 3) {
            // Cancel from the strand, as Asio requires, a little later.
            asio::post(strand, [this] { signal.emit(asio::cancellation_type::terminal); });
        }
    }
};

TEST(threads, strands_share_one_pipeline_and_deadline_queue) {
    manual_clock::reset();
    asio::io_context context(2);
    auto observer = std::make_shared<counting_observer>();
    pipeline_policy policy;
    policy.retry.max_attempts = 2;
    policy.retry.backoff.kind = backoff_kind::constant;
    policy.retry.backoff.initial = 2ms;
    policy.retry.backoff.jitter = jitter_kind::none;
    policy.timeout.exchange = 20ms;
    policy.timeout.total = 35ms;
    observed_pipeline pipeline(context, "shared", policy, keel::shared_observer(observer));

    std::vector<std::unique_ptr<chain>> chains;
    for (int s = 0; s < strands; ++s) {
        chains.push_back(std::make_unique<chain>(context, pipeline));
    }
    auto guard = asio::make_work_guard(context);
    std::array<std::thread, 2> threads;
    for (auto& t : threads)
        t = std::thread([&] { context.run(); });
    for (auto& c : chains)
        asio::post(c->strand, [raw = c.get()] { raw->next(); });

    auto all_finished = [&] {
        return std::all_of(chains.begin(), chains.end(),
                           [](const auto& c) { return c->finished.load(); });
    };
    // Move the clock until every chain finished. The bound is real time, not
    // a count of steps: on a loaded machine under TSan the two threads can
    // fall far behind the clock (every call then times out, which is
    // allowed), and a step count ran out while they were still catching up.
    // A minute is far beyond what 320 calls need; a bug fails instead of
    // hanging.
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!all_finished() && std::chrono::steady_clock::now() < give_up) {
        manual_clock::advance(std::chrono::microseconds(100));
        std::this_thread::yield();
    }
    guard.reset();
    context.stop();
    for (auto& t : threads)
        t.join();

    ASSERT_TRUE(all_finished());
    // The clock runs freely against two busy threads, so an operation due
    // before its deadline can still lose to it when both expire in the same
    // poll. What each kind may end with is fixed; how often each happens is not.
    int successes = 0, timeouts = 0, cancelled = 0, gave_up = 0;
    for (const auto& c : chains) {
        EXPECT_EQ(c->completed, calls_per_strand);
        for (int i = 0; i < calls_per_strand; ++i) {
            const auto index = static_cast<std::size_t>(i);
            EXPECT_EQ(c->handler_runs[index], 1);
            const std::error_code& ec = c->results[index];
            successes += !ec;
            timeouts += ec == condition::timeout;
            cancelled += ec == condition::cancelled;
            gave_up += ec == asio::error::connection_reset;
            switch (i % 4) {
            case 0:
                EXPECT_TRUE(!ec || ec == condition::timeout) << ec.message();
                break;
            case 1: // a late poll can leave no time for the retry: the real error then
                EXPECT_TRUE(!ec || ec == condition::timeout || ec == asio::error::connection_reset)
                    << ec.message();
                break;
            case 2:
                EXPECT_EQ(ec, condition::timeout) << ec.message();
                break;
            case 3:
                EXPECT_TRUE(ec == condition::cancelled || ec == condition::timeout) << ec.message();
                break;
            }
        }
    }
    const int total = strands * calls_per_strand;
    EXPECT_EQ(successes + timeouts + cancelled + gave_up, total);
    EXPECT_GT(successes, 0);
    EXPECT_GE(timeouts, total / 4);
    EXPECT_GT(cancelled, 0);
    EXPECT_EQ(observer->calls_started, total);
    EXPECT_EQ(observer->calls_ended, total);
    EXPECT_GT(observer->retries, 0);
    EXPECT_GE(observer->timeouts, timeouts) << "every timed-out call reported its timeout";
}

TEST(threads, calls_started_from_a_thread_that_does_not_run_the_context) {
    // The usual use_future pattern: the caller blocks on the future while
    // another thread runs the context, so the first attempt may complete
    // before async_run has returned.
    asio::io_context context(1);
    pipeline_policy policy;
    policy.retry.max_attempts = 2;
    policy.retry.backoff.initial = 0ms;
    policy.retry.backoff.jitter = jitter_kind::none;
    policy.timeout.exchange = 1h; // real clock: never fires, but is armed every call
    keel::pipeline p(context, "remote", policy);
    auto guard = asio::make_work_guard(context);
    std::thread runner([&] { context.run(); });
    int sum = 0;
    for (int i = 0; i < 2000; ++i) {
        auto f = p.async_run<void(std::error_code, int)>(
            [&, i](const keel::attempt& a, auto handler) {
                std::error_code ec;
                if (i % 3 == 0 && a.number() == 1)
                    ec = asio::error::connection_refused;
                asio::post(context, [h = std::move(handler), ec, i]() mutable { h(ec, i); });
            },
            asio::use_future);
        sum += f.get() == i;
    }
    guard.reset();
    runner.join();
    EXPECT_EQ(sum, 2000);
}

} // namespace
} // namespace keel::test
