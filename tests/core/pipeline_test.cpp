// The composed pipeline on the manual clock: attempts, give-up, deadlines,
// timeouts versus cancellation, Retry-After.
#include <keel/pipeline.hpp>

#include "support/scripted_op.hpp"
#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <gtest/gtest.h>

namespace keel::test {
namespace {

using manual_pipeline = keel::basic_pipeline<manual_timer>;

pipeline_policy constant_backoff(int attempts, std::chrono::nanoseconds delay) {
    pipeline_policy p;
    p.retry.max_attempts = attempts;
    p.retry.backoff.kind = backoff_kind::constant;
    p.retry.backoff.initial = delay;
    p.retry.backoff.max = std::max(delay, p.retry.backoff.max);
    p.retry.backoff.jitter = jitter_kind::none;
    return p;
}

class pipeline_test : public ::testing::Test {
protected:
    void SetUp() override { manual_clock::reset(); }
    asio::io_context context;
};

TEST_F(pipeline_test, first_attempt_success_runs_once) {
    manual_pipeline p(context, "dep", constant_backoff(3, 100ms));
    scripted_op op(context, {ok(42)});
    completion c;
    call_report report;
    p.async_run(std::ref(op), report, record(c));
    run_for(context, 1s, [&] { return c.done(); });
    EXPECT_EQ(c.calls, 1);
    EXPECT_FALSE(c.ec);
    EXPECT_EQ(c.value, 42);
    EXPECT_EQ(op.calls(), 1);
    EXPECT_EQ(report.attempts, 1);
    EXPECT_EQ(report.outcome, call_outcome::success);
}

TEST_F(pipeline_test, transient_failures_are_retried_after_the_backoff) {
    manual_pipeline p(context, "dep", constant_backoff(3, 250ms));
    scripted_op op(context, {fail(asio::error::connection_refused),
                             fail(asio::error::connection_reset), ok(7)});
    completion c;
    call_report report;
    const auto start = manual_clock::now();
    p.async_run(std::ref(op), report, record(c));
    run_for(context, 10s, [&] { return c.done(); });
    ASSERT_EQ(c.calls, 1);
    EXPECT_FALSE(c.ec);
    EXPECT_EQ(c.value, 7);
    ASSERT_EQ(op.calls(), 3);
    EXPECT_EQ(op.seen()[0].started - start, 0ms);
    EXPECT_EQ(op.seen()[1].started - start, 250ms);
    EXPECT_EQ(op.seen()[2].started - start, 500ms);
    EXPECT_EQ(report.attempts, 3);
    EXPECT_EQ(report.outcome, call_outcome::success_after_retry);
}

TEST_F(pipeline_test, exhausted_retries_report_the_last_real_error) {
    manual_pipeline p(context, "dep", constant_backoff(4, 10ms));
    scripted_op op(context,
                   {fail(asio::error::connection_refused), fail(asio::error::connection_refused),
                    fail(asio::error::connection_refused), fail(asio::error::connection_reset)});
    completion c;
    call_report report;
    p.async_run(std::ref(op), report, record(c));
    run_for(context, 10s, [&] { return c.done(); });
    ASSERT_EQ(c.calls, 1);
    EXPECT_EQ(c.ec, std::error_code(asio::error::connection_reset));
    EXPECT_EQ(op.calls(), 4);
    EXPECT_EQ(report.attempts, 4);
    EXPECT_EQ(report.reason, give_up_reason::attempts_exhausted);
    EXPECT_EQ(report.outcome, call_outcome::failure_after_retry);
    EXPECT_EQ(report.fault, fault_class::transient);
}

TEST_F(pipeline_test, permanent_errors_are_not_retried) {
    manual_pipeline p(context, "dep", constant_backoff(5, 10ms));
    scripted_op op(context, {fail(std::make_error_code(std::errc::permission_denied)), ok(1)});
    completion c;
    call_report report;
    p.async_run(std::ref(op), report, record(c));
    run_for(context, 10s, [&] { return c.done(); });
    EXPECT_EQ(c.ec, std::errc::permission_denied);
    EXPECT_EQ(op.calls(), 1);
    EXPECT_EQ(report.reason, give_up_reason::not_retryable);
    EXPECT_EQ(report.outcome, call_outcome::failure);
}

TEST_F(pipeline_test, predicate_can_veto_a_retry) {
    pipeline_policy policy = constant_backoff(5, 10ms);
    policy.retry.predicate = [](const std::error_code& ec, fault_class) {
        return ec != asio::error::connection_reset;
    };
    manual_pipeline p(context, "dep", policy);
    scripted_op op(context, {fail(asio::error::connection_refused),
                             fail(asio::error::connection_reset), ok(1)});
    completion c;
    p.async_run(std::ref(op), record(c));
    run_for(context, 10s, [&] { return c.done(); });
    EXPECT_EQ(c.ec, std::error_code(asio::error::connection_reset));
    EXPECT_EQ(op.calls(), 2);
}

TEST_F(pipeline_test, operation_can_forbid_a_retry) {
    // As keel::http does for a POST that may have reached the server: the
    // error is retryable, but this attempt says no.
    manual_pipeline p(context, "dep", constant_backoff(5, 10ms));
    step refused_after_sending = fail(asio::error::connection_reset);
    refused_after_sending.forbid_retry = true;
    scripted_op op(context, {fail(asio::error::connection_refused), refused_after_sending, ok(1)});
    completion c;
    call_report report;
    p.async_run(std::ref(op), report, record(c));
    run_for(context, 10s, [&] { return c.done(); });
    EXPECT_EQ(c.ec, std::error_code(asio::error::connection_reset));
    EXPECT_EQ(op.calls(), 2);
    EXPECT_EQ(report.reason, give_up_reason::not_retryable);
}

TEST_F(pipeline_test, exchange_timeout_cancels_the_attempt_and_is_reported_as_timeout) {
    pipeline_policy policy = constant_backoff(1, 0ms);
    policy.timeout.exchange = 2s;
    manual_pipeline p(context, "dep", policy);
    scripted_op op(context, {hang()});
    completion c;
    call_report report;
    p.async_run(std::ref(op), report, record(c));
    const auto waited = run_for(context, 10s, [&] { return c.done(); });
    ASSERT_EQ(c.calls, 1);
    EXPECT_EQ(c.ec, errc::exchange_timeout);
    EXPECT_EQ(c.ec, condition::timeout);
    EXPECT_NE(c.ec, condition::cancelled);
    EXPECT_EQ(waited, 2s);
    ASSERT_EQ(op.calls(), 1);
    EXPECT_TRUE(op.seen()[0].cancelled) << "the timeout must cancel the inner operation";
    EXPECT_EQ(report.outcome, call_outcome::timeout);
    EXPECT_EQ(report.fault, fault_class::timeout);
}

TEST_F(pipeline_test, timed_out_attempts_are_retried_with_fresh_deadlines) {
    pipeline_policy policy = constant_backoff(3, 500ms);
    policy.timeout.exchange = 1s;
    policy.timeout.connect = 300ms;
    manual_pipeline p(context, "dep", policy);
    scripted_op op(context, {hang(), hang(), ok(3, 200ms)});
    completion c;
    const auto start = manual_clock::now();
    p.async_run(std::ref(op), record(c));
    run_for(context, 10s, [&] { return c.done(); });
    ASSERT_EQ(c.calls, 1);
    EXPECT_FALSE(c.ec);
    EXPECT_EQ(c.value, 3);
    ASSERT_EQ(op.calls(), 3);
    for (int i = 0; i < 3; ++i) {
        const auto& a = op.seen()[static_cast<std::size_t>(i)];
        EXPECT_EQ(a.number, i + 1);
        EXPECT_EQ(a.started - start, i * 1500ms);
        EXPECT_EQ(a.exchange_deadline - a.started, 1s);
        EXPECT_EQ(a.connect_deadline - a.started, 300ms);
        EXPECT_EQ(a.total_deadline, manual_clock::time_point::max());
    }
    EXPECT_TRUE(op.seen()[0].cancelled);
    EXPECT_TRUE(op.seen()[1].cancelled);
    EXPECT_FALSE(op.seen()[2].cancelled);
}

TEST_F(pipeline_test, total_deadline_cuts_the_running_attempt) {
    pipeline_policy policy = constant_backoff(10, 1s);
    policy.timeout.exchange = 1s;
    policy.timeout.total = 2500ms;
    manual_pipeline p(context, "dep", policy);
    scripted_op op(context, {hang()});
    completion c;
    call_report report;
    p.async_run(std::ref(op), report, record(c));
    const auto waited = run_for(context, 10s, [&] { return c.done(); });
    // attempt 1: [0, 1s) exchange timeout; sleep 1s; attempt 2 from 2s is cut
    // at 2.5s by the total deadline, not by its own exchange deadline (3s).
    EXPECT_EQ(waited, 2500ms);
    EXPECT_EQ(c.ec, errc::deadline_exceeded);
    EXPECT_EQ(c.ec, condition::timeout);
    ASSERT_EQ(op.calls(), 2);
    EXPECT_EQ(op.seen()[1].exchange_deadline, op.seen()[1].total_deadline);
    EXPECT_EQ(report.attempts, 2);
    EXPECT_EQ(report.reason, give_up_reason::deadline);
}

TEST_F(pipeline_test, never_sleeps_past_the_total_deadline) {
    pipeline_policy policy = constant_backoff(5, 3s);
    policy.timeout.total = 2s;
    manual_pipeline p(context, "dep", policy);
    scripted_op op(context, {fail(asio::error::connection_refused)});
    completion c;
    call_report report;
    p.async_run(std::ref(op), report, record(c));
    const auto waited = run_for(context, 10s, [&] { return c.done(); });
    // The 3 s sleep would end past the 2 s deadline: give up at once, with
    // the real error rather than a timeout.
    EXPECT_EQ(waited, 0ms);
    EXPECT_EQ(c.ec, std::error_code(asio::error::connection_refused));
    EXPECT_EQ(op.calls(), 1);
    EXPECT_EQ(report.reason, give_up_reason::deadline);
    EXPECT_EQ(report.outcome, call_outcome::failure);
}

TEST_F(pipeline_test, retry_after_replaces_the_backoff_and_is_capped) {
    pipeline_policy policy = constant_backoff(3, 100ms);
    policy.retry.retry_after.max = 5s;
    manual_pipeline p(context, "dep", policy);
    step throttled = fail(asio::error::connection_refused);
    throttled.retry_after = 2s;
    step throttled_long = throttled;
    throttled_long.retry_after = 60s;
    scripted_op op(context, {throttled, throttled_long, ok(9)});
    completion c;
    const auto start = manual_clock::now();
    p.async_run(std::ref(op), record(c));
    run_for(context, 20s, [&] { return c.done(); });
    ASSERT_EQ(op.calls(), 3);
    EXPECT_EQ(op.seen()[1].started - start, 2s);
    EXPECT_EQ(op.seen()[2].started - start, 2s + 5s);
    EXPECT_EQ(c.value, 9);
}

TEST_F(pipeline_test, retry_after_ignored_when_not_honored) {
    pipeline_policy policy = constant_backoff(2, 100ms);
    policy.retry.retry_after.honor = false;
    manual_pipeline p(context, "dep", policy);
    step throttled = fail(asio::error::connection_refused);
    throttled.retry_after = 2s;
    scripted_op op(context, {throttled, ok(1)});
    completion c;
    const auto start = manual_clock::now();
    p.async_run(std::ref(op), record(c));
    run_for(context, 20s, [&] { return c.done(); });
    ASSERT_EQ(op.calls(), 2);
    EXPECT_EQ(op.seen()[1].started - start, 100ms);
}

TEST_F(pipeline_test, outer_cancellation_during_an_attempt_is_operation_aborted) {
    pipeline_policy policy = constant_backoff(5, 10ms);
    policy.timeout.exchange = 10s;
    manual_pipeline p(context, "dep", policy);
    scripted_op op(context, {hang()});
    completion c;
    call_report report;
    asio::cancellation_signal signal;
    p.async_run(std::ref(op), report, asio::bind_cancellation_slot(signal.slot(), record(c)));
    run_for(context, 1s);
    ASSERT_EQ(c.calls, 0);
    signal.emit(asio::cancellation_type::terminal);
    run_for(context, 1s, [&] { return c.done(); });
    ASSERT_EQ(c.calls, 1);
    EXPECT_EQ(c.ec, asio::error::operation_aborted);
    EXPECT_NE(c.ec, condition::timeout);
    EXPECT_EQ(c.ec, condition::cancelled);
    EXPECT_EQ(op.calls(), 1) << "a cancelled call is never retried";
    EXPECT_TRUE(op.seen()[0].cancelled) << "terminal cancellation must reach the inner operation";
    EXPECT_EQ(report.outcome, call_outcome::cancelled);
}

TEST_F(pipeline_test, outer_cancellation_during_the_sleep_ends_it_at_once) {
    manual_pipeline p(context, "dep", constant_backoff(5, 30s));
    scripted_op op(context, {fail(asio::error::connection_refused)});
    completion c;
    asio::cancellation_signal signal;
    p.async_run(std::ref(op), asio::bind_cancellation_slot(signal.slot(), record(c)));
    run_for(context, 1s);
    ASSERT_EQ(op.calls(), 1);
    ASSERT_EQ(c.calls, 0);
    signal.emit(asio::cancellation_type::terminal);
    EXPECT_EQ(c.calls, 0) << "never complete inside the emitter";
    context.restart();
    context.poll();
    ASSERT_EQ(c.calls, 1);
    EXPECT_EQ(c.ec, asio::error::operation_aborted);
    run_for(context, 60s);
    EXPECT_EQ(op.calls(), 1);
    EXPECT_EQ(c.calls, 1);
}

TEST_F(pipeline_test, result_that_beats_the_cancellation_wins) {
    // The operation completes in the same poll in which its deadline fires:
    // the deadline queue's timer was armed first, but the result is real and
    // must be delivered as such, not as a timeout.
    pipeline_policy policy = constant_backoff(1, 0ms);
    policy.timeout.exchange = 1s;
    manual_pipeline p(context, "dep", policy);
    scripted_op op(context, {ok(5, 1s)});
    completion c;
    p.async_run(std::ref(op), record(c));
    run_for(
        context, 5s, [&] { return c.done(); }, 1s);
    ASSERT_EQ(c.calls, 1);
    if (c.ec) {
        // Either order is legal for timers due at the same instant, but the
        // outcome must match it: a timeout only when the op was cancelled.
        EXPECT_EQ(c.ec, errc::exchange_timeout);
        EXPECT_TRUE(op.seen()[0].cancelled);
    } else {
        EXPECT_EQ(c.value, 5);
        EXPECT_FALSE(op.seen()[0].cancelled);
    }
}

TEST_F(pipeline_test, operation_completing_inside_initiation_still_completes_asynchronously) {
    manual_pipeline p(context, "dep", constant_backoff(1, 0ms));
    completion c;
    p.async_run<void(std::error_code, int)>(
        [](const manual_attempt&, auto&& handler) { std::move(handler)(std::error_code{}, 11); },
        record(c));
    EXPECT_EQ(c.calls, 0);
    context.poll();
    EXPECT_EQ(c.calls, 1);
    EXPECT_EQ(c.value, 11);
}

TEST_F(pipeline_test, zero_delay_retry_is_posted) {
    manual_pipeline p(context, "dep", constant_backoff(3, 0ms));
    scripted_op op(context, {fail(asio::error::connection_refused), ok(2)});
    completion c;
    p.async_run(std::ref(op), record(c));
    const auto waited = run_for(context, 1s, [&] { return c.done(); });
    EXPECT_EQ(waited, 0ms);
    EXPECT_EQ(c.value, 2);
    EXPECT_EQ(op.calls(), 2);
}

TEST_F(pipeline_test, same_seed_gives_the_same_sleeps) {
    pipeline_policy policy;
    policy.retry.max_attempts = 5;
    policy.retry.backoff.jitter = jitter_kind::full;
    std::vector<std::vector<manual_clock::time_point>> runs;
    for (int run = 0; run < 2; ++run) {
        manual_clock::reset();
        asio::io_context local;
        manual_pipeline p(local, "dep", policy);
        p.seed(1234);
        scripted_op op(local, {fail(asio::error::connection_refused)});
        completion c;
        p.async_run(std::ref(op), record(c));
        run_for(local, 60s, [&] { return c.done(); });
        ASSERT_EQ(op.calls(), 5);
        std::vector<manual_clock::time_point> starts;
        for (const auto& a : op.seen())
            starts.push_back(a.started);
        runs.push_back(starts);
    }
    EXPECT_EQ(runs[0], runs[1]);
}

TEST_F(pipeline_test, destroying_the_context_mid_call_leaks_nothing) {
    // Run under ASan: a call sleeping in the deadline queue and one waiting in
    // an attempt are both freed when their context goes away.
    auto local = std::make_unique<asio::io_context>();
    pipeline_policy policy = constant_backoff(3, 10s);
    policy.timeout.exchange = 60s;
    auto p = std::make_unique<manual_pipeline>(*local, "dep", policy);
    scripted_op sleeper(*local, {fail(asio::error::connection_refused)});
    scripted_op hanger(*local, {hang()});
    completion a, b;
    p->async_run(std::ref(sleeper), record(a));
    p->async_run(std::ref(hanger), record(b));
    run_for(*local, 100ms);
    EXPECT_EQ(sleeper.calls(), 1);
    EXPECT_EQ(hanger.calls(), 1);
    local.reset();
    EXPECT_EQ(a.calls, 0);
    EXPECT_EQ(b.calls, 0);
}

TEST_F(pipeline_test, report_keeps_the_last_error_the_operation_itself_gave) {
    pipeline_policy policy = constant_backoff(3, 10ms);
    policy.timeout.exchange = 1s;
    manual_pipeline p(context, "dep", policy);
    scripted_op op(context, {fail(asio::error::connection_refused), hang()});
    completion c;
    call_report report;
    p.async_run(std::ref(op), report, record(c));
    run_for(context, 10s, [&] { return c.done(); });
    EXPECT_EQ(c.ec, errc::exchange_timeout);
    EXPECT_EQ(report.error, errc::exchange_timeout);
    EXPECT_EQ(report.last_operation_error, std::error_code(asio::error::connection_refused));
    EXPECT_EQ(report.attempts, 3);
}

// A wrapper that enforces the attempt's deadline itself (keel::http hands it
// to libcurl) reports keel's code: that is keel's timeout, not an answer.
TEST_F(pipeline_test, report_does_not_take_keels_own_codes_from_the_operation) {
    pipeline_policy policy = constant_backoff(2, 10ms);
    manual_pipeline p(context, "dep", policy);
    scripted_op op(context, {fail(asio::error::connection_refused), fail(errc::exchange_timeout)});
    completion c;
    call_report report;
    p.async_run(std::ref(op), report, record(c));
    run_for(context, 10s, [&] { return c.done(); });
    EXPECT_EQ(c.ec, errc::exchange_timeout);
    EXPECT_EQ(report.attempts, 2);
    EXPECT_EQ(report.last_operation_error, std::error_code(asio::error::connection_refused));
}

TEST_F(pipeline_test, an_idle_deadline_queue_does_not_keep_the_context_running) {
    // A finished call leaves the queue's timer armed at its (now void)
    // deadline; that timer must not count as work, or run() would only
    // return once it fires.
    pipeline_policy policy = constant_backoff(3, 10ms);
    policy.timeout.exchange = 1h;
    manual_pipeline p(context, "dep", policy);
    scripted_op op(context, {ok(1)});
    completion c;
    p.async_run(std::ref(op), record(c));
    context.poll();
    ASSERT_EQ(c.calls, 1);
    EXPECT_TRUE(context.stopped()) << "outstanding work left behind by a finished call";

    // ...while a call that sleeps between attempts keeps it running.
    context.restart();
    scripted_op flaky(context, {fail(asio::error::connection_refused), ok(2)});
    completion d;
    p.async_run(std::ref(flaky), record(d));
    context.poll();
    ASSERT_EQ(flaky.calls(), 1);
    EXPECT_FALSE(context.stopped()) << "a sleeping call must keep its context running";
    run_for(context, 1s, [&] { return d.done(); });
    EXPECT_EQ(d.value, 2);
    context.poll();
    EXPECT_TRUE(context.stopped());
}

TEST_F(pipeline_test, updated_policy_applies_to_new_calls_only) {
    pipeline_policy slow = constant_backoff(3, 1s);
    manual_pipeline p(context, "dep", slow);
    scripted_op first(context, {fail(asio::error::connection_refused), ok(1)});
    completion a;
    const auto start = manual_clock::now();
    p.async_run(std::ref(first), record(a));
    run_for(context, 100ms);
    ASSERT_EQ(first.calls(), 1); // sleeping 1 s under the old policy

    pipeline_policy fast = constant_backoff(3, 10ms);
    p.update(fast);
    EXPECT_EQ(p.policy().retry.backoff.initial, 10ms);
    scripted_op second(context, {fail(asio::error::connection_refused), ok(2)});
    completion b;
    const auto second_start = manual_clock::now();
    p.async_run(std::ref(second), record(b));
    run_for(context, 5s, [&] { return a.done() && b.done(); });
    ASSERT_EQ(first.calls(), 2);
    ASSERT_EQ(second.calls(), 2);
    EXPECT_EQ(first.seen()[1].started - start, 1s) << "a call in flight keeps its policy";
    EXPECT_EQ(second.seen()[1].started - second_start, 10ms);

    pipeline_policy bad = fast;
    bad.retry.max_attempts = 0;
    EXPECT_THROW(p.update(bad), std::invalid_argument);
    EXPECT_EQ(p.policy().retry.max_attempts, 3) << "a refused update keeps the running policy";
}

TEST_F(pipeline_test, invalid_policies_are_refused) {
    pipeline_policy bad;
    bad.retry.max_attempts = 0;
    EXPECT_THROW(manual_pipeline(context, "dep", bad), std::invalid_argument);
    bad = {};
    bad.timeout.total = 1s;
    bad.timeout.exchange = 2s;
    EXPECT_THROW(manual_pipeline(context, "dep", bad), std::invalid_argument);
    bad = {};
    bad.retry.backoff.multiplier = 0.5;
    EXPECT_THROW(manual_pipeline(context, "dep", bad), std::invalid_argument);
    bad = {};
    bad.retry.backoff.initial = 10s;
    try {
        manual_pipeline rejected(context, "dep", bad);
        ADD_FAILURE() << "initial > max accepted";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("retry.backoff.initial (10s) is longer than "
                                             "retry.backoff.max (5s)"),
                  std::string::npos)
            << e.what();
    }
    bad.retry.backoff.max = 5s;
    EXPECT_THROW(manual_pipeline(context, "dep", bad), std::invalid_argument);
}

} // namespace
} // namespace keel::test
