// keel::with_fallback through a real pipeline and a real circuit breaker on
// the manual clock (issue 25's must-show cases): an open breaker's refusal
// is answered by the fallback, and the breaker's window never counts a
// fallback's answer; the caller's cancellation, a permanent error and a call
// with no time left get no fallback.
#include <keel/circuit_breaker.hpp>
#include <keel/fallback.hpp>
#include <keel/pipeline.hpp>
#include <keel/strategy.hpp>

#include "support/scripted_op.hpp"
#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <gtest/gtest.h>

#include <memory>

namespace keel::test {
namespace {

using chain_pipeline =
    basic_pipeline<manual_timer, null_observer, asio::any_io_executor, strategy_chain>;

const std::error_code refused = std::make_error_code(std::errc::connection_refused);
const std::error_code denied = std::make_error_code(std::errc::permission_denied); // permanent

/// A fallback that answers `value` at once and counts its runs.
struct counted_fallback {
    int value = 99;
    std::shared_ptr<int> runs = std::make_shared<int>(0);

    template <class Token>
    auto operator()(const fallback_context&, Token&& token) {
        ++*runs;
        return asio::async_initiate<Token, void(std::error_code, int)>(
            [v = value](auto handler) { std::move(handler)(std::error_code(), v); }, token);
    }
};

class fallback_test : public ::testing::Test {
protected:
    void SetUp() override { manual_clock::reset(); }

    static pipeline_policy one_attempt() {
        pipeline_policy p;
        p.retry.max_attempts = 1;
        p.timeout.total = 10s;
        return p;
    }

    /// one_attempt() through `breaker`.
    static pipeline_policy guarded_by(std::shared_ptr<circuit_breaker> breaker) {
        pipeline_policy p = one_attempt();
        auto chain = std::make_shared<strategy_chain>();
        chain->breaker = std::move(breaker);
        p.strategies = chain;
        return p;
    }

    template <class Pipeline, class Op>
    completion call(Pipeline& pipeline, Op op, call_report& report) {
        completion c;
        pipeline.async_run(std::move(op), report, record(c));
        run_for(context, 20s, [&] { return c.done(); });
        return c;
    }

    static clock_ticks ticks_now() { return manual_clock::now().time_since_epoch(); }

    asio::io_context context;
};

TEST_F(fallback_test, an_open_breakers_refusal_is_answered_by_the_fallback_value) {
    circuit_breaker_settings settings;
    settings.consecutive_failures = 2;
    settings.break_duration = 30s;
    auto breaker = std::make_shared<circuit_breaker>(settings);
    chain_pipeline p(context, "inventory", guarded_by(breaker));
    scripted_op op(context, {fail(refused, 1ms)});
    for (int i = 0; i < 2; ++i) {
        call_report report;
        EXPECT_EQ(call(p, std::ref(op), report).ec, refused);
    }
    ASSERT_EQ(breaker->snapshot(ticks_now()).state, circuit_state::open);

    counted_fallback fallback;
    call_report report;
    const completion c = call(p, with_fallback(std::ref(op), fallback), report);
    ASSERT_EQ(c.calls, 1);
    EXPECT_FALSE(c.ec);
    EXPECT_EQ(c.value, 99);
    EXPECT_EQ(*fallback.runs, 1);
    EXPECT_EQ(op.calls(), 2) << "refused: no attempt reached the operation";
    EXPECT_EQ(report.outcome, call_outcome::fallback);
    EXPECT_EQ(report.original_error, make_error_code(errc::circuit_open));
    EXPECT_EQ(report.attempts, 0);
}

TEST_F(fallback_test, the_breakers_window_never_counts_a_fallbacks_answer) {
    circuit_breaker_settings settings;
    settings.window_size = 10;
    settings.min_calls = 4;
    settings.failure_ratio = 0.5;
    auto breaker = std::make_shared<circuit_breaker>(settings);
    chain_pipeline p(context, "inventory", guarded_by(breaker));
    scripted_op failing(context, {fail(refused, 1ms)});
    counted_fallback fallback;
    // Every failed attempt is answered by the fallback: the window holds the
    // attempts alone (a fallback's answer counted as a success would make it
    // 1 failure in 2 recorded per call).
    for (int i = 0; i < 3; ++i) {
        call_report report;
        const completion c = call(p, with_fallback(std::ref(failing), fallback), report);
        EXPECT_EQ(c.value, 99);
        const circuit_snapshot window = breaker->snapshot(ticks_now());
        EXPECT_EQ(window.recorded, i + 1) << "one attempt recorded per call, not two";
        EXPECT_EQ(window.failure_ratio, 1.0) << "the fallback's answer is not a success";
        EXPECT_EQ(window.state, circuit_state::closed);
    }
    call_report report;
    EXPECT_EQ(call(p, with_fallback(std::ref(failing), fallback), report).value, 99);
    EXPECT_EQ(breaker->snapshot(ticks_now()).state, circuit_state::open);
    EXPECT_EQ(*fallback.runs, 4);
    EXPECT_EQ(failing.calls(), 4);
}

TEST_F(fallback_test, the_callers_cancellation_gets_no_fallback) {
    basic_pipeline<manual_timer> p(context, "inventory", one_attempt());
    scripted_op op(context, {hang()});
    counted_fallback fallback;
    completion c;
    call_report report;
    asio::cancellation_signal signal;
    p.async_run(with_fallback(std::ref(op), fallback), report,
                asio::bind_cancellation_slot(signal.slot(), record(c)));
    run_for(context, 100ms);
    ASSERT_EQ(c.calls, 0);
    signal.emit(asio::cancellation_type::terminal);
    run_for(context, 1s, [&] { return c.done(); });
    ASSERT_EQ(c.calls, 1);
    EXPECT_EQ(c.ec, asio::error::operation_aborted);
    EXPECT_EQ(*fallback.runs, 0);
    EXPECT_EQ(report.outcome, call_outcome::cancelled);
    EXPECT_FALSE(report.original_error);
}

TEST_F(fallback_test, a_permanent_error_gets_no_fallback_unless_listed) {
    basic_pipeline<manual_timer> p(context, "inventory", one_attempt());
    scripted_op op(context, {fail(denied, 1ms)});
    counted_fallback fallback;
    call_report report;
    const completion c = call(p, with_fallback(std::ref(op), fallback), report);
    ASSERT_EQ(c.calls, 1);
    EXPECT_EQ(c.ec, denied);
    EXPECT_EQ(*fallback.runs, 0);
    EXPECT_EQ(report.outcome, call_outcome::failure);

    call_report listed;
    const completion answered =
        call(p, with_fallback(std::ref(op), fallback, {fault_class::permanent}), listed);
    EXPECT_FALSE(answered.ec);
    EXPECT_EQ(answered.value, 99);
    EXPECT_EQ(*fallback.runs, 1);
    EXPECT_EQ(listed.original_error, denied);
}

TEST_F(fallback_test, a_call_with_no_time_left_does_not_run_it) {
    pipeline_policy policy = one_attempt();
    policy.timeout.total = 1s;
    basic_pipeline<manual_timer> p(context, "inventory", policy);
    scripted_op op(context, {hang()});
    counted_fallback fallback;
    completion c;
    call_report report;
    const auto started = manual_clock::now();
    std::chrono::nanoseconds ended_at{-1};
    p.async_run(with_fallback(std::ref(op), fallback), report, [&](std::error_code ec, int value) {
        ended_at = manual_clock::now() - started;
        record(c)(ec, value);
    });
    run_for(context, 5s, [&] { return c.done(); });
    ASSERT_EQ(c.calls, 1);
    EXPECT_EQ(c.ec, make_error_code(errc::deadline_exceeded)) << "deadline_exceeded stands";
    EXPECT_EQ(ended_at, std::chrono::nanoseconds(1s));
    EXPECT_EQ(*fallback.runs, 0);
    EXPECT_FALSE(report.fallback_error);
}

} // namespace
} // namespace keel::test
