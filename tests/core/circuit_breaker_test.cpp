// keel::circuit_breaker on the manual clock: each rule of the issue's
// semantics, first on the breaker alone (explicit clock ticks), then through
// the real pipeline and driver.
#include <keel/circuit_breaker.hpp>
#include <keel/pipeline.hpp>
#include <keel/strategy_registry.hpp>

#include "support/scripted_op.hpp"
#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace keel::test {
namespace {

using nanos = std::chrono::nanoseconds;

struct no_wait final : admission_waiter {
    void admitted() noexcept override {}
};

attempt_record failed(fault_class f = fault_class::transient, nanos duration = 1ms) {
    attempt_record r;
    r.result = f == fault_class::timeout ? attempt_result::timeout : attempt_result::failure;
    r.fault = f;
    r.duration = duration;
    return r;
}

attempt_record succeeded(nanos duration = 1ms) {
    attempt_record r;
    r.result = attempt_result::success;
    r.duration = duration;
    return r;
}

/// Drives one breaker with explicit times and keeps its transitions.
class breaker_test : public ::testing::Test {
protected:
    void make(circuit_breaker_settings s, std::uint64_t seed = 0) {
        breaker = std::make_unique<circuit_breaker>(s, seed);
        breaker->on_transition([this](const circuit_transition& t) { seen.push_back(t); });
    }
    /// An attempt admitted at `at` and ending `record.duration` later;
    /// returns whether it was admitted.
    bool attempt(nanos at, const attempt_record& record) {
        const admission a = breaker->admit(at, waiter);
        if (!a.admitted)
            return false;
        breaker->release(at + record.duration, &record, a.ticket);
        return true;
    }
    std::string transitions() const {
        std::string out;
        for (const circuit_transition& t : seen)
            out += std::to_string(t.at.count() / 1'000'000) + "ms " +
                   std::string(to_string(t.from)) + "->" + std::string(to_string(t.to)) + " " +
                   std::string(t.reason) + "\n";
        return out;
    }

    no_wait waiter;
    std::unique_ptr<circuit_breaker> breaker;
    std::vector<circuit_transition> seen;
};

/// A window of the last `size` attempts, judged once it holds `min_calls`.
circuit_breaker_settings last(int size, int min_calls, double failure_ratio = 0.5) {
    circuit_breaker_settings s;
    s.window_size = size;
    s.min_calls = min_calls;
    s.failure_ratio = failure_ratio;
    return s;
}

circuit_breaker_settings five_of_five() {
    circuit_breaker_settings s;
    s.window_size = 5;
    s.min_calls = 5;
    s.failure_ratio = 1.0;
    s.break_duration = 5s;
    return s;
}

TEST_F(breaker_test, five_failures_open_it_at_the_fifth_end_and_refusals_carry_the_break) {
    make(five_of_five());
    for (int i = 0; i < 4; ++i)
        ASSERT_TRUE(attempt(nanos(i * 10ms), failed()));
    EXPECT_EQ(breaker->snapshot(40ms).state, circuit_state::closed);
    ASSERT_TRUE(attempt(40ms, failed(fault_class::transient, 2ms)));
    EXPECT_EQ(transitions(), "42ms closed->open failure_ratio\n");
    const admission refused = breaker->admit(42ms, waiter);
    EXPECT_FALSE(refused.admitted);
    EXPECT_EQ(refused.refusal, make_error_code(errc::circuit_open));
    EXPECT_EQ(refused.retry_after, nanos(5s));
    EXPECT_EQ(breaker->admit(1042ms, waiter).retry_after, nanos(4s));
}

TEST_F(breaker_test, ten_successes_then_four_failures_in_a_window_of_ten_stay_closed) {
    make(last(10, 10));
    for (int i = 0; i < 10; ++i)
        ASSERT_TRUE(attempt(nanos(i * 1ms), succeeded()));
    for (int i = 0; i < 4; ++i)
        ASSERT_TRUE(attempt(nanos(20ms + i * 1ms), failed()));
    const circuit_snapshot snap = breaker->snapshot(30ms);
    EXPECT_EQ(snap.state, circuit_state::closed);
    EXPECT_EQ(snap.recorded, 10);
    EXPECT_DOUBLE_EQ(snap.failure_ratio, 0.4);
    ASSERT_TRUE(attempt(30ms, failed())); // 5 of the last 10
    EXPECT_EQ(transitions(), "31ms closed->open failure_ratio\n");
}

TEST_F(breaker_test, a_time_window_forgets_attempts_older_than_its_size) {
    circuit_breaker_settings s;
    s.window = circuit_breaker_settings::window_kind::time;
    s.window_time = 10s;
    s.buckets = 10;
    s.min_calls = 4;
    make(s);
    ASSERT_TRUE(attempt(0s, failed()));
    ASSERT_TRUE(attempt(1s, failed()));
    ASSERT_TRUE(attempt(2s, failed()));
    EXPECT_EQ(breaker->snapshot(5s).recorded, 3);
    EXPECT_EQ(breaker->snapshot(12s).recorded, 0) << "the three fell out of the last 10 s";
    ASSERT_TRUE(attempt(12s, failed()));
    EXPECT_EQ(breaker->snapshot(12s).state, circuit_state::closed)
        << "one recorded: under min_calls";
}

// A closed breaker with a count window counts a success that leaves the
// window's counts as they were without judging them again: these show the
// cases where the counts change or a failure repeats are still judged.
TEST_F(breaker_test, a_success_that_brings_the_window_to_min_calls_opens_it_on_the_ratio) {
    make(last(10, 10));
    for (int i = 0; i < 9; ++i)
        ASSERT_TRUE(attempt(nanos(i * 1ms), failed()));
    EXPECT_TRUE(seen.empty()) << "9 recorded: under min_calls";
    ASSERT_TRUE(attempt(10ms, succeeded())); // 9 failures of 10
    EXPECT_EQ(transitions(), "11ms closed->open failure_ratio\n");
}

TEST_F(breaker_test, a_full_window_of_successes_keeps_exact_counts_until_failures_replace_them) {
    make(last(4, 4));
    for (int i = 0; i < 100; ++i)
        ASSERT_TRUE(attempt(nanos(i * 1ms), succeeded()));
    circuit_snapshot snap = breaker->snapshot(100ms);
    EXPECT_EQ(snap.recorded, 4);
    EXPECT_DOUBLE_EQ(snap.failure_ratio, 0.0);
    ASSERT_TRUE(attempt(200ms, failed())); // 1 of 4
    snap = breaker->snapshot(201ms);
    EXPECT_EQ(snap.state, circuit_state::closed);
    EXPECT_DOUBLE_EQ(snap.failure_ratio, 0.25);
    ASSERT_TRUE(attempt(300ms, failed())); // 2 of 4
    EXPECT_EQ(transitions(), "301ms closed->open failure_ratio\n");
}

TEST_F(breaker_test, a_failure_replacing_a_failure_in_a_full_window_still_counts_in_a_row) {
    circuit_breaker_settings s = last(2, 100); // the ratio never counts
    s.consecutive_failures = 3;
    make(s);
    ASSERT_TRUE(attempt(0ms, failed()));
    ASSERT_TRUE(attempt(10ms, failed()));
    EXPECT_TRUE(seen.empty());
    ASSERT_TRUE(attempt(20ms, failed())); // the window's counts unchanged
    EXPECT_EQ(transitions(), "21ms closed->open consecutive_failures\n");
}

TEST_F(breaker_test, consecutive_failures_open_it_whatever_the_ratio) {
    circuit_breaker_settings s = last(100, 100);
    s.consecutive_failures = 3;
    make(s);
    ASSERT_TRUE(attempt(0ms, failed()));
    ASSERT_TRUE(attempt(10ms, failed()));
    ASSERT_TRUE(attempt(20ms, succeeded())); // breaks the run
    ASSERT_TRUE(attempt(30ms, failed()));
    ASSERT_TRUE(attempt(40ms, failed()));
    EXPECT_TRUE(seen.empty());
    ASSERT_TRUE(attempt(50ms, failed()));
    EXPECT_EQ(transitions(), "51ms closed->open consecutive_failures\n");
}

TEST_F(breaker_test, slow_successes_open_it) {
    circuit_breaker_settings s;
    s.window_size = 4;
    s.min_calls = 4;
    s.slow_threshold = 2s;
    s.slow_ratio = 0.75;
    make(s);
    ASSERT_TRUE(attempt(0s, succeeded(2s)));
    ASSERT_TRUE(attempt(3s, succeeded(100ms)));
    ASSERT_TRUE(attempt(4s, succeeded(3s)));
    EXPECT_TRUE(seen.empty());
    ASSERT_TRUE(attempt(8s, succeeded(2s)));
    EXPECT_EQ(transitions(), "10000ms closed->open slow_calls\n");
}

TEST_F(breaker_test,
       permanent_errors_are_answers_and_cancellations_and_ignored_classes_do_not_count) {
    circuit_breaker_settings s = five_of_five();
    s.ignore.insert(fault_class::throttled);
    make(s);
    for (int i = 0; i < 5; ++i) {
        ASSERT_TRUE(attempt(nanos(i * 1ms), failed(fault_class::permanent))); // HTTP 404
        ASSERT_TRUE(attempt(nanos(i * 1ms), failed(fault_class::cancelled)));
        ASSERT_TRUE(attempt(nanos(i * 1ms), failed(fault_class::rejected)));
        ASSERT_TRUE(attempt(nanos(i * 1ms), failed(fault_class::throttled)));
    }
    const circuit_snapshot snap = breaker->snapshot(10ms);
    EXPECT_EQ(snap.state, circuit_state::closed);
    EXPECT_EQ(snap.recorded, 5) << "only the 404s, as successes";
    EXPECT_DOUBLE_EQ(snap.failure_ratio, 0.0);
    // An attempt that never started (refused further in) records nothing.
    const admission a = breaker->admit(20ms, waiter);
    breaker->release(20ms, nullptr, a.ticket);
    EXPECT_EQ(breaker->snapshot(20ms).recorded, 5);
}

TEST_F(breaker_test, half_open_comes_exactly_when_the_break_ends_without_a_call) {
    make(five_of_five());
    for (int i = 0; i < 5; ++i)
        ASSERT_TRUE(attempt(0ms, failed(fault_class::timeout, 0ns)));
    EXPECT_EQ(breaker->snapshot(5s - 1ns).state, circuit_state::open);
    const circuit_snapshot later = breaker->snapshot(7s);
    EXPECT_EQ(later.state, circuit_state::half_open);
    EXPECT_EQ(later.since, nanos(5s)) << "made at the instant it was due, not when asked";
    EXPECT_EQ(transitions(),
              "0ms closed->open failure_ratio\n5000ms open->half_open break_ended\n");
}

TEST_F(breaker_test, three_probes_are_admitted_the_fourth_refused_and_three_successes_close_it) {
    circuit_breaker_settings s = five_of_five();
    s.probes = 3;
    make(s);
    for (int i = 0; i < 5; ++i)
        ASSERT_TRUE(attempt(0ms, failed(fault_class::transient, 0ns)));
    std::vector<admission> probes;
    for (int i = 0; i < 3; ++i) {
        probes.push_back(breaker->admit(5s, waiter));
        ASSERT_TRUE(probes.back().admitted) << i;
    }
    const admission fourth = breaker->admit(5s, waiter);
    EXPECT_FALSE(fourth.admitted);
    EXPECT_EQ(fourth.refusal, make_error_code(errc::circuit_open));
    const attempt_record ok = succeeded();
    breaker->release(5s + 1ms, &ok, probes[0].ticket);
    breaker->release(5s + 2ms, &ok, probes[1].ticket);
    EXPECT_EQ(breaker->snapshot(5s + 2ms).state, circuit_state::half_open);
    breaker->release(5s + 3ms, &ok, probes[2].ticket);
    const circuit_snapshot closed = breaker->snapshot(5s + 3ms);
    EXPECT_EQ(closed.state, circuit_state::closed);
    EXPECT_EQ(closed.recorded, 0) << "the window starts empty";
    EXPECT_EQ(seen.back().reason, "probes_succeeded");
}

TEST_F(breaker_test, a_failed_probe_reopens_it_for_twice_the_break) {
    circuit_breaker_settings s = five_of_five();
    s.break_multiplier = 2.0;
    make(s);
    for (int i = 0; i < 5; ++i)
        ASSERT_TRUE(attempt(0ms, failed(fault_class::transient, 0ns)));
    ASSERT_TRUE(attempt(5s, failed(fault_class::transient, 100ms)));
    EXPECT_EQ(breaker->admit(5100ms, waiter).retry_after, nanos(10s));
    EXPECT_EQ(breaker->snapshot(15099ms).state, circuit_state::open);
    EXPECT_EQ(breaker->snapshot(15100ms).state, circuit_state::half_open);
    EXPECT_EQ(transitions(), "0ms closed->open failure_ratio\n"
                             "5000ms open->half_open break_ended\n"
                             "5100ms half_open->open probe_failed\n"
                             "15100ms open->half_open break_ended\n");
}

TEST_F(breaker_test, a_hung_probe_reopens_it_after_max_wait_and_its_late_success_is_ignored) {
    circuit_breaker_settings s = five_of_five();
    s.half_open_max_wait = 30s;
    make(s);
    for (int i = 0; i < 5; ++i)
        ASSERT_TRUE(attempt(0ms, failed(fault_class::transient, 0ns)));
    const admission probe = breaker->admit(5s, waiter);
    ASSERT_TRUE(probe.admitted);
    EXPECT_EQ(breaker->snapshot(35s).state, circuit_state::open);
    const attempt_record late = succeeded(40s);
    breaker->release(45s, &late, probe.ticket);
    EXPECT_EQ(breaker->snapshot(45s).state, circuit_state::half_open)
        << "the break after the timeout ended at 40 s; the late success closed nothing";
    EXPECT_EQ(transitions(), "0ms closed->open failure_ratio\n"
                             "5000ms open->half_open break_ended\n"
                             "35000ms half_open->open half_open_timeout\n"
                             "40000ms open->half_open break_ended\n");
}

TEST_F(breaker_test, a_result_of_an_attempt_admitted_before_a_transition_is_ignored) {
    make(five_of_five());
    const admission early = breaker->admit(0ms, waiter); // admitted while closed
    for (int i = 0; i < 5; ++i)
        ASSERT_TRUE(attempt(1ms, failed(fault_class::transient, 0ns)));
    ASSERT_EQ(breaker->snapshot(1ms).state, circuit_state::open);
    breaker->reset(2ms);
    const attempt_record fail = failed();
    for (int i = 0; i < 5; ++i)
        breaker->release(3ms, &fail, early.ticket);
    EXPECT_EQ(breaker->snapshot(3ms).recorded, 0);
}

TEST_F(breaker_test, breaks_grow_to_their_max_and_jitter_spreads_them_by_seed) {
    circuit_breaker_settings s = five_of_five();
    s.min_calls = 1;
    s.window_size = 1;
    s.break_duration = 1s;
    s.break_multiplier = 3.0;
    s.break_max = 5s;
    make(s);
    nanos t = 0ns;
    std::vector<nanos> breaks;
    ASSERT_TRUE(attempt(t, failed(fault_class::transient, 0ns)));
    for (int i = 0; i < 3; ++i) {
        const nanos b = *breaker->admit(t, waiter).retry_after;
        breaks.push_back(b);
        t += b;
        ASSERT_TRUE(attempt(t, failed(fault_class::transient, 0ns))); // the probe fails
    }
    EXPECT_EQ(breaks, (std::vector<nanos>{1s, 3s, 5s}));

    s.break_multiplier = 1.0;
    s.break_jitter = 0.1;
    std::vector<nanos> first, second;
    for (auto* out : {&first, &second}) {
        make(s, 42);
        ASSERT_TRUE(attempt(0ns, failed(fault_class::transient, 0ns)));
        const nanos b = *breaker->admit(0ns, waiter).retry_after;
        EXPECT_GE(b, 900ms);
        EXPECT_LE(b, 1100ms);
        out->push_back(b);
    }
    EXPECT_EQ(first, second) << "the same seed, the same spread";
}

TEST_F(breaker_test, isolate_holds_it_open_until_reset) {
    make(five_of_five());
    breaker->isolate(1s);
    EXPECT_FALSE(breaker->admit(1s, waiter).admitted);
    EXPECT_FALSE(breaker->admit(1h, waiter).admitted) << "no break ends an isolation";
    EXPECT_FALSE(breaker->admit(1h, waiter).retry_after);
    EXPECT_TRUE(breaker->snapshot(1h).isolated);
    breaker->reset(2h);
    EXPECT_TRUE(breaker->admit(2h, waiter).admitted);
    EXPECT_EQ(transitions(), "1000ms closed->open isolated\n7200000ms open->closed reset\n");
}

/// Eight threads each admit and record 10,000 attempts into `breaker`, the
/// i-th as `of(i)`.
void record_on_eight_threads(circuit_breaker& breaker, attempt_record (*of)(int)) {
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&breaker, of] {
            no_wait waiter;
            for (int i = 0; i < 10'000; ++i) {
                const admission a = breaker.admit(nanos(i), waiter);
                const attempt_record r = of(i);
                breaker.release(nanos(i), &r, a.ticket);
            }
        });
    }
    for (std::thread& t : threads)
        t.join();
}

TEST(circuit_breaker, eight_threads_recording_into_one_breaker_give_exact_counts) {
    circuit_breaker breaker(last(80'000, 80'001)); // never opens: every attempt is counted
    record_on_eight_threads(breaker, [](int i) { return i % 4 == 0 ? failed() : succeeded(); });
    const circuit_snapshot snap = breaker.snapshot(1s);
    EXPECT_EQ(snap.recorded, 80'000);
    EXPECT_DOUBLE_EQ(snap.failure_ratio, 0.25);
}

TEST(circuit_breaker, eight_threads_recording_into_a_full_window_keep_its_counts_exact) {
    circuit_breaker breaker(last(1000, 1001)); // never opens
    record_on_eight_threads(breaker, [](int) { return succeeded(); });
    EXPECT_EQ(breaker.snapshot(1s).recorded, 1000);
    no_wait waiter;
    for (int i = 0; i < 250; ++i) { // a quarter of the window replaced
        const admission a = breaker.admit(1s, waiter);
        const attempt_record r = failed();
        breaker.release(1s, &r, a.ticket);
    }
    const circuit_snapshot snap = breaker.snapshot(1s);
    EXPECT_EQ(snap.recorded, 1000);
    EXPECT_DOUBLE_EQ(snap.failure_ratio, 0.25);
}

TEST(circuit_breaker, a_listener_added_while_it_is_in_use_hears_what_follows) {
    circuit_breaker_settings s;
    s.window_size = 1;
    s.min_calls = 1;
    s.break_duration = 1ns;
    s.break_max = 1ns;
    circuit_breaker breaker(s);
    std::atomic<bool> stop{false};
    std::thread flapping([&] { // opens at every failure, half-open 1 ns later
        no_wait waiter;
        const attempt_record fail = failed();
        for (std::int64_t t = 0; !stop.load(); t += 10) {
            const admission a = breaker.admit(nanos(t), waiter);
            if (a.admitted)
                breaker.release(nanos(t), &fail, a.ticket);
        }
    });
    std::atomic<int> heard{0};
    for (int i = 0; i < 50; ++i)
        breaker.on_transition([&heard](const circuit_transition&) { heard.fetch_add(1); });
    while (heard.load() < 1000) {
    }
    stop = true;
    flapping.join();
    EXPECT_GE(heard.load(), 1000);
}

TEST(circuit_breaker, impossible_settings_are_refused) {
    circuit_breaker_settings s;
    s.failure_ratio = 0;
    EXPECT_THROW(circuit_breaker{s}, std::invalid_argument);
    s = {};
    s.break_max = 1s;
    EXPECT_THROW(circuit_breaker{s}, std::invalid_argument);
    s = {};
    s.probes = 0;
    EXPECT_THROW(circuit_breaker{s}, std::invalid_argument);
}

// ---- through the pipeline ---------------------------------------------------------

using chain_pipeline =
    basic_pipeline<manual_timer, null_observer, asio::any_io_executor, strategy_chain>;

/// The manual clock's now, as the pipeline hands it to its strategies.
nanos ticks_now() {
    return manual_clock::now().time_since_epoch();
}

class breaker_pipeline_test : public ::testing::Test {
protected:
    void SetUp() override { manual_clock::reset(); }

    pipeline_policy policy_with(std::shared_ptr<circuit_breaker> breaker, int max_attempts = 1) {
        auto chain = std::make_shared<strategy_chain>();
        chain->breaker = std::move(breaker);
        pipeline_policy p;
        p.retry.max_attempts = max_attempts;
        p.retry.backoff.kind = backoff_kind::constant;
        p.retry.backoff.initial = 10ms;
        p.retry.backoff.jitter = jitter_kind::none;
        p.strategies = chain;
        return p;
    }

    asio::io_context context;
};

TEST_F(breaker_pipeline_test, an_open_breaker_refuses_the_call_with_no_attempt_and_the_break_left) {
    auto breaker = std::make_shared<circuit_breaker>(five_of_five());
    chain_pipeline p(context, "payments", policy_with(breaker));
    scripted_op op(context, {fail(std::make_error_code(std::errc::connection_refused), 1ms)});
    for (int i = 0; i < 5; ++i) {
        completion c;
        p.async_run(std::ref(op), record(c));
        run_for(context, 1s, [&] { return c.done(); });
    }
    ASSERT_EQ(op.calls(), 5);
    completion refused;
    call_report report;
    p.async_run(std::ref(op), report, record(refused));
    EXPECT_FALSE(refused.done()) << "never completed inside async_run";
    run_for(context, 0ms, [&] { return refused.done(); });
    ASSERT_TRUE(refused.done());
    EXPECT_EQ(refused.ec, make_error_code(errc::circuit_open));
    EXPECT_EQ(report.outcome, call_outcome::rejected);
    EXPECT_EQ(report.attempts, 0);
    EXPECT_EQ(report.retry_after, nanos(5s));
    EXPECT_EQ(op.calls(), 5) << "the operation was not called";
}

TEST_F(breaker_pipeline_test, a_retry_refused_mid_call_ends_it_with_the_last_real_error) {
    circuit_breaker_settings s;
    s.consecutive_failures = 2;
    auto breaker = std::make_shared<circuit_breaker>(s);
    chain_pipeline p(context, "payments", policy_with(breaker, 3));
    const auto refused_error = std::make_error_code(std::errc::connection_refused);
    scripted_op op(context, {fail(refused_error, 1ms)});
    completion c;
    call_report report;
    p.async_run(std::ref(op), report, record(c));
    run_for(context, 1s, [&] { return c.done(); });
    ASSERT_TRUE(c.done());
    EXPECT_EQ(c.ec, refused_error);
    EXPECT_EQ(report.attempts, 2);
    EXPECT_EQ(report.reason, give_up_reason::rejected);
    EXPECT_EQ(report.refusal, make_error_code(errc::circuit_open));
    EXPECT_EQ(report.outcome, call_outcome::failure_after_retry);
}

TEST_F(breaker_pipeline_test, a_callers_cancellation_is_not_recorded) {
    auto breaker = std::make_shared<circuit_breaker>(five_of_five());
    chain_pipeline p(context, "payments", policy_with(breaker));
    scripted_op op(context, {hang()});
    asio::cancellation_signal cancel;
    completion c;
    p.async_run(std::ref(op), asio::bind_cancellation_slot(cancel.slot(), record(c)));
    run_for(context, 10ms);
    cancel.emit(asio::cancellation_type::terminal);
    run_for(context, 10ms, [&] { return c.done(); });
    ASSERT_TRUE(c.done());
    EXPECT_EQ(breaker->snapshot(ticks_now()).recorded, 0);
}

TEST_F(breaker_pipeline_test, two_pipelines_of_one_dependency_share_one_breaker) {
    strategy_registry registry;
    const circuit_breaker_settings s = five_of_five();
    auto first = registry.obtain<circuit_breaker>("payments", "", s);
    auto second = registry.obtain<circuit_breaker>("payments", "", s);
    ASSERT_EQ(first, second);
    chain_pipeline orders(context, "payments", policy_with(first));
    chain_pipeline refunds(context, "payments", policy_with(second));
    scripted_op op(context, {fail(std::make_error_code(std::errc::connection_reset), 1ms)});
    for (int i = 0; i < 5; ++i) {
        completion c;
        orders.async_run(std::ref(op), record(c));
        run_for(context, 1s, [&] { return c.done(); });
    }
    completion c;
    refunds.async_run(std::ref(op), record(c));
    run_for(context, 0ms, [&] { return c.done(); });
    EXPECT_EQ(c.ec, make_error_code(errc::circuit_open));
    // Another dependency's breaker is its own.
    auto other = registry.obtain<circuit_breaker>("ledger", "", s);
    EXPECT_NE(other, first);
    EXPECT_EQ(other->snapshot(ticks_now()).state, circuit_state::closed);
}

} // namespace
} // namespace keel::test
