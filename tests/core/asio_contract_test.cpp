// The Asio contracts a composed operation owes its caller: every token kind,
// the handler's executor, allocator and cancellation slot reach the inner
// operation, and the handler runs exactly once, on its executor.
#include <keel/as_result.hpp>
#include <keel/pipeline.hpp>
#include <keel/with_deadline.hpp>

#include "support/scripted_op.hpp"
#include <asio/bind_allocator.hpp>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/bind_executor.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/deferred.hpp>
#include <asio/post.hpp>
#include <asio/strand.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <future>

namespace keel::test {
namespace {

using manual_pipeline = keel::basic_pipeline<manual_timer>;

pipeline_policy quick_policy() {
    pipeline_policy p;
    p.retry.max_attempts = 3;
    p.retry.backoff.kind = backoff_kind::constant;
    p.retry.backoff.initial = 10ms;
    p.retry.backoff.jitter = jitter_kind::none;
    p.timeout.exchange = 1s;
    p.timeout.total = 10s;
    return p;
}

class asio_contract : public ::testing::Test {
protected:
    void SetUp() override { manual_clock::reset(); }
    asio::io_context context;
};

TEST_F(asio_contract, callback_token) {
    manual_pipeline p(context, "dep", quick_policy());
    scripted_op op(context, {fail(asio::error::connection_refused), ok(5)});
    completion c;
    p.async_run(std::ref(op), record(c));
    run_for(context, 1s, [&] { return c.done(); });
    EXPECT_EQ(c.calls, 1);
    EXPECT_EQ(c.value, 5);
}

TEST_F(asio_contract, use_future_token) {
    manual_pipeline p(context, "dep", quick_policy());
    scripted_op op(context, {fail(asio::error::connection_refused), ok(6)});
    std::future<int> f = p.async_run(std::ref(op), asio::use_future);
    run_for(context, 1s, [&] { return f.wait_for(0s) == std::future_status::ready; });
    EXPECT_EQ(f.get(), 6);

    scripted_op failing(context, {fail(std::make_error_code(std::errc::permission_denied))});
    std::future<int> g = p.async_run(std::ref(failing), asio::use_future);
    run_for(context, 1s, [&] { return g.wait_for(0s) == std::future_status::ready; });
    EXPECT_THROW(g.get(), std::system_error);
}

TEST_F(asio_contract, use_awaitable_token_and_as_result) {
    manual_pipeline p(context, "dep", quick_policy());
    scripted_op op(context, {fail(asio::error::connection_refused), ok(7)});
    scripted_op failing(context, {fail(std::make_error_code(std::errc::permission_denied))});
    int value = 0;
    std::error_code result_error;
    bool threw = false;
    bool finished = false;
    asio::co_spawn(
        context,
        [&]() -> asio::awaitable<void> {
            value = co_await p.async_run(std::ref(op), asio::use_awaitable);
            keel::result<int> r =
                co_await p.async_run(std::ref(failing), keel::as_result(asio::use_awaitable));
            result_error = r ? std::error_code{} : r.error();
            try {
                co_await p.async_run(std::ref(failing), asio::use_awaitable);
            } catch (const std::system_error&) {
                threw = true;
            }
            finished = true;
        },
        asio::detached);
    run_for(context, 5s, [&] { return finished; });
    EXPECT_TRUE(finished);
    EXPECT_EQ(value, 7);
    EXPECT_EQ(result_error, std::errc::permission_denied);
    EXPECT_TRUE(threw);
}

TEST_F(asio_contract, deferred_token_starts_only_when_invoked) {
    manual_pipeline p(context, "dep", quick_policy());
    scripted_op op(context, {ok(8)});
    auto deferred_call = p.async_run(std::ref(op), asio::experimental::deferred);
    run_for(context, 100ms);
    EXPECT_EQ(op.calls(), 0) << "a deferred operation must not start before it is invoked";
    completion c;
    std::move(deferred_call)(record(c));
    run_for(context, 1s, [&] { return c.done(); });
    EXPECT_EQ(c.value, 8);
    EXPECT_EQ(op.calls(), 1);
}

TEST_F(asio_contract, as_result_with_callbacks_and_void_signatures) {
    manual_pipeline p(context, "dep", quick_policy());
    scripted_op op(context, {ok(9)});
    std::optional<keel::result<int>> got;
    p.async_run(std::ref(op), keel::as_result([&](keel::result<int> r) { got = std::move(r); }));
    // a void(error_code) operation: a timer wait
    std::optional<keel::result<void>> waited;
    p.async_run(
        [&](const manual_attempt&, auto&& token) {
            auto t = std::make_shared<manual_timer>(context, 5ms);
            return t->async_wait(asio::experimental::deferred([t](std::error_code ec) {
                return asio::experimental::deferred.values(ec);
            }))(std::forward<decltype(token)>(token));
        },
        keel::as_result([&](keel::result<void> r) { waited = r; }));
    run_for(context, 1s, [&] { return got && waited; });
    ASSERT_TRUE(got);
    ASSERT_TRUE(got->has_value());
    EXPECT_EQ(got->value(), 9);
    ASSERT_TRUE(waited);
    EXPECT_TRUE(waited->has_value());
}

// ---- propagation -----------------------------------------------------------------

/// An allocator that counts what it hands out, so a test can tell that keel
/// and the inner operation used it.
template <class T>
struct counting_allocator {
    using value_type = T;
    std::shared_ptr<std::atomic<int>> live;
    std::shared_ptr<std::atomic<int>> total;
    counting_allocator(std::shared_ptr<std::atomic<int>> l, std::shared_ptr<std::atomic<int>> t)
        : live(std::move(l)), total(std::move(t)) {}
    template <class U>
    counting_allocator(const counting_allocator<U>& o) : live(o.live), total(o.total) {}
    T* allocate(std::size_t n) {
        ++*live;
        ++*total;
        return std::allocator<T>().allocate(n);
    }
    void deallocate(T* p, std::size_t n) {
        --*live;
        std::allocator<T>().deallocate(p, n);
    }
    template <class U>
    bool operator==(const counting_allocator<U>& o) const {
        return live == o.live;
    }
};

TEST_F(asio_contract, executor_allocator_and_slot_reach_the_inner_operation) {
    manual_pipeline p(context, "dep", quick_policy());
    auto strand = asio::make_strand(context);
    auto live = std::make_shared<std::atomic<int>>(0);
    auto total = std::make_shared<std::atomic<int>>(0);
    counting_allocator<void> alloc(live, total);
    asio::cancellation_signal signal;

    bool inner_saw_strand = false;
    bool inner_saw_allocator = false;
    bool inner_saw_slot = false;
    bool handler_on_strand = false;
    int handler_calls = 0;

    auto handler = asio::bind_cancellation_slot(
        signal.slot(),
        asio::bind_allocator(alloc, asio::bind_executor(strand, [&](std::error_code ec, int v) {
                                 ++handler_calls;
                                 handler_on_strand = strand.running_in_this_thread();
                                 EXPECT_FALSE(ec);
                                 EXPECT_EQ(v, 3);
                                 EXPECT_EQ(*live, 0)
                                     << "keel's state must be freed before the upcall";
                             })));
    p.async_run<void(std::error_code, int)>(
        [&](const manual_attempt&, auto&& inner) {
            inner_saw_strand =
                asio::get_associated_executor(inner) == asio::any_io_executor(strand);
            inner_saw_allocator = asio::get_associated_allocator(inner) == alloc;
            inner_saw_slot = asio::get_associated_cancellation_slot(inner).is_connected();
            asio::post(context, [h = std::move(inner)]() mutable {
                // Complete through the handler's executor, as an Asio op would.
                auto ex = asio::get_associated_executor(h);
                asio::dispatch(
                    ex, [h = std::move(h)]() mutable { std::move(h)(std::error_code{}, 3); });
            });
        },
        std::move(handler));
    run_for(context, 1s, [&] { return handler_calls > 0; });
    EXPECT_EQ(handler_calls, 1);
    EXPECT_TRUE(inner_saw_strand);
    EXPECT_TRUE(inner_saw_allocator);
    EXPECT_TRUE(inner_saw_slot) << "the inner operation must get a cancellation slot";
    EXPECT_TRUE(handler_on_strand);
    EXPECT_GT(*total, 0) << "keel's per-call state must come from the handler's allocator";
    EXPECT_EQ(*live, 0);
}

// A handler whose associated executor is an any_io_executor holding a strand
// (a coroutine spawned on one, say): the call must run on that strand, not on
// the io_context it wraps. (Asio 1.22's any_executor::target<T>() does not
// check the type: a strand once passed for a plain io_context executor.)
TEST_F(asio_contract, strand_inside_any_io_executor_is_honoured) {
    manual_pipeline p(context, "dep", quick_policy());
    const asio::any_io_executor strand = asio::make_strand(context);
    const auto* typed = strand.target<asio::strand<asio::io_context::executor_type>>();
    ASSERT_NE(typed, nullptr);
    bool inner_saw_strand = false;
    bool handler_on_strand = false;
    int handler_calls = 0;
    p.async_run<void(std::error_code, int)>(
        [&](const manual_attempt&, auto&& inner) {
            inner_saw_strand = asio::get_associated_executor(inner) == strand;
            asio::post(context, [h = std::move(inner)]() mutable {
                auto ex = asio::get_associated_executor(h);
                asio::dispatch(
                    ex, [h = std::move(h)]() mutable { std::move(h)(std::error_code{}, 3); });
            });
        },
        asio::bind_executor(strand, [&](std::error_code ec, int v) {
            ++handler_calls;
            handler_on_strand = typed->running_in_this_thread();
            EXPECT_FALSE(ec);
            EXPECT_EQ(v, 3);
        }));
    run_for(context, 1s, [&] { return handler_calls > 0; });
    EXPECT_EQ(handler_calls, 1);
    EXPECT_TRUE(inner_saw_strand);
    EXPECT_TRUE(handler_on_strand);
}

TEST_F(asio_contract, inner_slot_is_connected_even_without_an_outer_one) {
    // The timeout needs the slot, whether or not the caller can cancel.
    manual_pipeline p(context, "dep", quick_policy());
    bool connected = false;
    completion c;
    p.async_run<void(std::error_code, int)>(
        [&](const manual_attempt&, auto&& inner) {
            connected = asio::get_associated_cancellation_slot(inner).is_connected();
            asio::post(context, [h = std::move(inner)]() mutable { std::move(h)({}, 1); });
        },
        record(c));
    run_for(context, 1s, [&] { return c.done(); });
    EXPECT_TRUE(connected);
}

TEST_F(asio_contract, handler_runs_exactly_once_whatever_happens) {
    // A mix of outcomes, including timeouts racing completions on a coarse tick.
    manual_pipeline p(context, "dep", quick_policy());
    std::vector<std::unique_ptr<scripted_op>> ops;
    std::vector<int> calls(200, 0);
    for (int i = 0; i < 200; ++i) {
        std::vector<step> steps;
        switch (i % 5) {
        case 0:
            steps = {ok(i, std::chrono::milliseconds(i % 7))};
            break;
        case 1:
            steps = {fail(asio::error::connection_refused), ok(i)};
            break;
        case 2:
            steps = {hang()};
            break;
        case 3:
            steps = {ok(i, 1s)};
            break; // completes exactly at the exchange deadline
        case 4:
            steps = {fail(std::make_error_code(std::errc::permission_denied))};
            break;
        }
        ops.push_back(std::make_unique<scripted_op>(context, steps));
        p.async_run(std::ref(*ops.back()), [&calls, i](std::error_code, int) { ++calls[i]; });
    }
    run_for(
        context, 30s,
        [&] { return std::all_of(calls.begin(), calls.end(), [](int n) { return n > 0; }); },
        250ms);
    run_for(
        context, 30s, [] { return false; }, 1s);
    for (int i = 0; i < 200; ++i)
        EXPECT_EQ(calls[static_cast<std::size_t>(i)], 1) << "call " << i;
}

/// An operation that completes only when the test says so, on its handler's
/// executor; it ignores cancellation.
struct completed_by_the_test {
    std::function<void(std::error_code, int)> complete;

    template <class Token>
    auto operator()(const manual_attempt&, Token&& token) {
        return asio::async_initiate<Token, void(std::error_code, int)>(
            [this](auto handler) {
                auto held = std::make_shared<decltype(handler)>(std::move(handler));
                complete = [held](std::error_code ec, int value) {
                    auto executor = asio::get_associated_executor(*held);
                    asio::post(executor, [held, ec, value] { std::move (*held)(ec, value); });
                };
            },
            token);
    }
};

TEST_F(asio_contract, the_callers_signal_may_be_freed_by_its_handler) {
    // A deadline firing as the attempt completes leaves a wake-up queued on
    // the caller's executor behind the completion: the call's state outlives
    // the handler, which may free its cancellation signal. The state must not
    // touch the signal again (under ASan this was a use after free).
    asio::io_context caller;
    manual_pipeline p(context, "dep", quick_policy());
    completed_by_the_test op;
    auto signal = std::make_unique<asio::cancellation_signal>();
    int calls = 0;
    int value = 0;
    p.async_run(std::ref(op),
                asio::bind_executor(caller, asio::bind_cancellation_slot(
                                                signal->slot(), [&](std::error_code ec, int v) {
                                                    ++calls;
                                                    value = ec ? -1 : v;
                                                    signal.reset();
                                                })));
    context.poll();
    caller.poll();
    ASSERT_TRUE(op.complete) << "the attempt started";
    op.complete({}, 5); // queued on the caller's executor
    manual_clock::advance(1s);
    context.restart();
    context.poll(); // the exchange deadline fires: its wake-up queues behind
    caller.restart();
    caller.poll();
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(value, 5);
    EXPECT_EQ(signal, nullptr);
    context.restart();
    context.poll();
    caller.restart();
    caller.poll();
    EXPECT_EQ(calls, 1);
}

TEST_F(asio_contract, async_with_deadline_wraps_any_operation) {
    manual_timer slow(context, 10s);
    std::error_code got;
    bool done = false;
    keel::async_with_timeout<manual_timer>(context.get_executor(), 2s,
                                           slow.async_wait(asio::experimental::deferred),
                                           [&](std::error_code ec) {
                                               got = ec;
                                               done = true;
                                           });
    const auto waited = run_for(context, 20s, [&] { return done; });
    EXPECT_EQ(waited, 2s);
    EXPECT_EQ(got, errc::timeout);

    manual_timer fast(context, 1s);
    done = false;
    keel::async_with_deadline<manual_timer>(
        context.get_executor(), manual_clock::now() + 2s, errc::connect_timeout,
        fast.async_wait(asio::experimental::deferred), [&](std::error_code ec) {
            got = ec;
            done = true;
        });
    run_for(context, 20s, [&] { return done; });
    EXPECT_FALSE(got);

    manual_timer connect(context, 10s);
    done = false;
    keel::async_with_deadline<manual_timer>(
        context.get_executor(), manual_clock::now() + 300ms, errc::connect_timeout,
        connect.async_wait(asio::experimental::deferred), [&](std::error_code ec) {
            got = ec;
            done = true;
        });
    run_for(context, 20s, [&] { return done; });
    EXPECT_EQ(got, errc::connect_timeout);
    EXPECT_EQ(got, condition::timeout);
}

TEST_F(asio_contract, a_deadline_already_past_never_starts_the_operation) {
    bool started = false;
    std::error_code got;
    bool done = false;
    keel::async_with_deadline<manual_timer>(
        context.get_executor(), manual_clock::now() - 1ms, errc::connect_timeout,
        [&, t = std::make_shared<manual_timer>(context, 1s)](auto&& token) {
            started = true;
            return t->async_wait(std::forward<decltype(token)>(token));
        },
        [&](std::error_code ec) {
            got = ec;
            done = true;
        });
    EXPECT_FALSE(done) << "never complete inside the initiating function";
    context.poll();
    EXPECT_TRUE(done);
    EXPECT_FALSE(started);
    EXPECT_EQ(got, errc::connect_timeout);
}

} // namespace
} // namespace keel::test
