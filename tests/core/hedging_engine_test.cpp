// keel::hedging through the real driver on the manual clock (issue 24's
// must-show cases): when further attempts start, who wins, what a non-fatal
// or a fatal failure does, the deadline's min_remaining, the retry budget
// gating hedges, and that nothing runs behind the caller's back.
#include <keel/endpoint.hpp>
#include <keel/fallback.hpp>
#include <keel/hedging.hpp>
#include <keel/idempotent.hpp>
#include <keel/pipeline.hpp>
#include <keel/strategy.hpp>

#include "support/scripted_op.hpp"
#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace keel::test {
namespace {

using hedged_pipeline =
    basic_pipeline<manual_timer, null_observer, asio::any_io_executor, strategy_chain>;
using nanos = std::chrono::nanoseconds;

const std::error_code transient_error = asio::error::connection_refused;
const std::error_code permanent_error = make_error_code(std::errc::invalid_argument);

/// A gate that refuses every retry and hedge (an exhausted budget).
struct exhausted_budget final : retry_gate {
    int asked = 0;
    admission may_retry(clock_ticks, int) noexcept override {
        ++asked;
        return admission::reject(errc::retry_budget_exhausted);
    }
};

class hedging_engine_test : public ::testing::Test {
protected:
    void SetUp() override { manual_clock::reset(); }

    pipeline_policy policy(hedge_settings settings, std::shared_ptr<retry_gate> gate = nullptr,
                           nanos total = 10s) {
        pipeline_policy p;
        p.retry.max_attempts = 1; // hedging counts its own attempts
        p.timeout.total = total;
        auto chain = std::make_shared<strategy_chain>();
        chain->parallel = std::make_shared<hedging>(settings);
        chain->gate = std::move(gate);
        p.strategies = chain;
        return p;
    }

    static hedge_settings three_after_50ms() {
        hedge_settings s;
        s.max_attempts = 3;
        s.delay = 50ms;
        return s;
    }

    /// Runs one call of `op` and returns when it completed, on the manual clock.
    struct outcome {
        completion done;
        call_report report;
        nanos ended_at{-1};
        /// Each attempt's "cancelled and completed", as the caller's handler
        /// saw it (scripted_op marks a cancelled attempt as it completes).
        std::vector<bool> cancelled_before_handler;
    };
    outcome run(const pipeline_policy& p, scripted_op& op) {
        return run_op(p, keel::idempotent(std::ref(op)), op);
    }
    /// As run(), with `call` (an operation over `op`) saying for itself
    /// whether it may be hedged.
    template <class Call>
    outcome run_op(const pipeline_policy& p, Call call, scripted_op& op) {
        hedged_pipeline pipeline(context, "read-model", p);
        outcome o;
        const auto started = manual_clock::now();
        pipeline.async_run(std::move(call), o.report, [&](std::error_code ec, int value) {
            o.ended_at = manual_clock::now() - started;
            for (const auto& a : op.seen())
                o.cancelled_before_handler.push_back(a.cancelled);
            record(o.done)(ec, value);
        });
        run_for(context, 2s, [&] { return o.done.done(); });
        return o;
    }

    std::vector<nanos> start_times(const scripted_op& op) const {
        std::vector<nanos> times;
        for (const auto& a : op.seen())
            times.push_back(a.started.time_since_epoch());
        return times;
    }

    asio::io_context context;
};

TEST_F(hedging_engine_test, the_premises_transient_and_permanent) {
    EXPECT_EQ(classify(transient_error), fault_class::transient);
    EXPECT_EQ(classify(permanent_error), fault_class::permanent);
}

TEST_F(hedging_engine_test, a_primary_answering_before_the_delay_makes_one_attempt) {
    scripted_op op(context, {ok(1, 30ms)});
    const outcome o = run(policy(three_after_50ms()), op);
    ASSERT_EQ(o.done.calls, 1);
    EXPECT_FALSE(o.done.ec);
    EXPECT_EQ(o.report.attempts, 1);
    EXPECT_EQ(o.ended_at, nanos(30ms));
    EXPECT_EQ(o.report.outcome, call_outcome::success);
    EXPECT_EQ(o.report.hedges_started, 0);
    EXPECT_FALSE(o.report.hedge_won);
    EXPECT_EQ(o.report.hedges_suppressed, 0);
}

TEST_F(hedging_engine_test, a_faster_hedge_wins_and_the_primary_is_cancelled_and_completed_first) {
    // Primary: 200 ms. Hedge 2 starts at 50 ms and answers 30 ms later.
    scripted_op op(context, {ok(1, 200ms), ok(2, 30ms)});
    const outcome o = run(policy(three_after_50ms()), op);
    ASSERT_EQ(o.done.calls, 1);
    EXPECT_FALSE(o.done.ec);
    EXPECT_EQ(o.done.value, 2) << "the hedge's answer";
    EXPECT_EQ(o.ended_at, nanos(80ms));
    EXPECT_EQ(o.report.attempts, 2);
    ASSERT_EQ(o.cancelled_before_handler.size(), 2u);
    EXPECT_TRUE(o.cancelled_before_handler[0])
        << "the primary was cancelled and completed before the caller's handler";
    EXPECT_FALSE(o.cancelled_before_handler[1]);
    EXPECT_EQ(o.report.hedges_started, 1);
    EXPECT_TRUE(o.report.hedge_won);
    EXPECT_EQ(o.report.outcome, call_outcome::success_after_retry);
}

TEST_F(hedging_engine_test, a_primary_winning_beside_its_hedge_is_a_plain_success) {
    // Primary: 70 ms; hedge 2 starts at 50 ms and would take 100 ms.
    scripted_op op(context, {ok(1, 70ms), ok(2, 100ms)});
    const outcome o = run(policy(three_after_50ms()), op);
    ASSERT_EQ(o.done.calls, 1);
    EXPECT_EQ(o.done.value, 1);
    EXPECT_EQ(o.ended_at, nanos(70ms));
    EXPECT_EQ(o.report.attempts, 2);
    EXPECT_EQ(o.report.hedges_started, 1);
    EXPECT_FALSE(o.report.hedge_won) << "the first attempt won";
    EXPECT_EQ(o.report.outcome, call_outcome::success);
}

TEST_F(hedging_engine_test, a_non_fatal_failure_starts_the_next_hedge_at_once) {
    // 503-like at 10 ms: hedge 2 at 10 ms, hedge 3 50 ms after it.
    scripted_op op(context, {fail(transient_error, 10ms), ok(2, 500ms), ok(3, 500ms)});
    run(policy(three_after_50ms()), op);
    const std::vector<nanos> starts = start_times(op);
    ASSERT_EQ(starts.size(), 3u);
    EXPECT_EQ(starts[1] - starts[0], nanos(10ms));
    EXPECT_EQ(starts[2] - starts[0], nanos(60ms));
}

TEST_F(hedging_engine_test, the_report_counts_the_hedges_a_non_fatal_failure_started) {
    scripted_op op(context, {fail(transient_error, 10ms), ok(2, 500ms), ok(3, 20ms)});
    const outcome o = run(policy(three_after_50ms()), op);
    ASSERT_EQ(o.done.calls, 1);
    EXPECT_EQ(o.done.value, 3);
    EXPECT_EQ(o.ended_at, nanos(80ms)) << "hedge 3 starts at 60 ms and answers 20 ms later";
    EXPECT_EQ(o.report.hedges_started, 2);
    EXPECT_TRUE(o.report.hedge_won);
    EXPECT_EQ(o.report.hedges_suppressed, 0);
}

TEST_F(hedging_engine_test, a_fatal_failure_ends_everything) {
    scripted_op op(context, {fail(permanent_error, 10ms), ok(2, 10ms)});
    const outcome o = run(policy(three_after_50ms()), op);
    ASSERT_EQ(o.done.calls, 1);
    EXPECT_EQ(o.done.ec, permanent_error);
    EXPECT_EQ(o.report.attempts, 1);
    EXPECT_EQ(o.ended_at, nanos(10ms));
}

TEST_F(hedging_engine_test, every_attempt_failing_ends_with_the_last_error_and_its_count) {
    scripted_op op(context, {fail(transient_error, 10ms)});
    const outcome o = run(policy(three_after_50ms()), op);
    ASSERT_EQ(o.done.calls, 1);
    EXPECT_EQ(o.done.ec, transient_error);
    EXPECT_EQ(o.report.attempts, 3);
}

TEST_F(hedging_engine_test, no_hedge_starts_with_less_than_min_remaining_left) {
    hedge_settings s = three_after_50ms();
    s.min_remaining = 50ms;
    // Total deadline 90 ms: at 50 ms only 40 ms are left.
    scripted_op op(context, {ok(1, 70ms)});
    const outcome o = run(policy(s, nullptr, 90ms), op);
    ASSERT_EQ(o.done.calls, 1);
    EXPECT_FALSE(o.done.ec);
    EXPECT_EQ(o.report.attempts, 1);
    EXPECT_EQ(op.seen().size(), 1u);
    EXPECT_EQ(o.report.hedges_suppressed, 1) << "the hedge due at 50 ms";
}

TEST_F(hedging_engine_test,
       a_hedge_kept_back_is_not_suppressed_when_the_call_ends_before_it_is_due) {
    hedge_settings s = three_after_50ms();
    s.min_remaining = 50ms;
    scripted_op op(context, {ok(1, 30ms)});
    const outcome o = run(policy(s, nullptr, 90ms), op);
    EXPECT_EQ(o.report.attempts, 1);
    EXPECT_EQ(o.report.hedges_suppressed, 0);
}

TEST_F(hedging_engine_test, an_exhausted_budget_starts_no_hedge_and_keeps_the_primary) {
    auto budget = std::make_shared<exhausted_budget>();
    scripted_op op(context, {ok(1, 120ms)});
    const outcome o = run(policy(three_after_50ms(), budget), op);
    ASSERT_EQ(o.done.calls, 1);
    EXPECT_FALSE(o.done.ec) << "the primary was not cancelled";
    EXPECT_EQ(o.done.value, 1);
    EXPECT_EQ(o.report.attempts, 1);
    EXPECT_EQ(o.ended_at, nanos(120ms));
    EXPECT_GE(budget->asked, 1);
    EXPECT_FALSE(o.report.refusal) << "a suppressed hedge is no refusal of the call";
    EXPECT_EQ(o.report.hedges_started, 0);
    EXPECT_EQ(o.report.hedges_suppressed, 1);
}

TEST_F(hedging_engine_test, the_caller_cancelling_leaves_nothing_running) {
    scripted_op op(context, {ok(1, 1s), ok(2, 1s)});
    hedged_pipeline pipeline(context, "read-model", policy(three_after_50ms()));
    asio::cancellation_signal cancel;
    completion c;
    pipeline.async_run(keel::idempotent(std::ref(op)),
                       asio::bind_cancellation_slot(cancel.slot(), record(c)));
    run_for(context, 70ms);
    ASSERT_EQ(op.seen().size(), 2u) << "the primary and hedge 2 run at 70 ms";
    cancel.emit(asio::cancellation_type::terminal);
    run_for(context, 100ms, [&] { return c.done(); });
    ASSERT_EQ(c.calls, 1);
    EXPECT_EQ(c.ec, std::error_code(asio::error::operation_aborted));
    for (const auto& a : op.seen())
        EXPECT_TRUE(a.cancelled) << "attempt " << a.number << " cancelled and completed";
}

TEST_F(hedging_engine_test, an_operation_that_does_not_say_it_is_idempotent_runs_one_attempt) {
    // A POST without an Idempotency-Key, or any plain operation: doing it
    // twice may do it twice.
    scripted_op op(context, {ok(1, 200ms), ok(2, 30ms)});
    const outcome o = run_op(policy(three_after_50ms()), std::ref(op), op);
    ASSERT_EQ(o.done.calls, 1);
    EXPECT_EQ(o.done.value, 1);
    EXPECT_EQ(o.report.attempts, 1);
    EXPECT_EQ(o.ended_at, nanos(200ms));
    EXPECT_EQ(op.seen().size(), 1u);
}

TEST_F(hedging_engine_test, the_wrappers_pass_idempotence_through) {
    scripted_op op(context, {ok(1, 200ms), ok(2, 30ms)});
    auto call = with_endpoint(keel::idempotent(std::ref(op)), "db1:5432");
    static_assert(declares_idempotence<decltype(call)>);
    EXPECT_TRUE(detail::is_idempotent(call));
    EXPECT_EQ(call.endpoint(), "db1:5432");
    EXPECT_FALSE(detail::is_idempotent(with_endpoint(std::ref(op), "db1:5432")));
    const outcome o = run_op(policy(three_after_50ms()), std::move(call), op);
    EXPECT_EQ(o.done.value, 2) << "hedged: the hedge's answer";
    EXPECT_EQ(o.report.attempts, 2);
}

} // namespace
} // namespace keel::test
