// The breaker's cheap paths through the real driver, on the manual clock: a
// call refused before its first attempt completes as a built call would (its
// report, its observer events, through the handler's executor, never inside
// async_run) without being built; an admitted first attempt is admitted
// once; and strategies get the time only when they need it, exact when they
// do.
#include <keel/circuit_breaker.hpp>
#include <keel/pipeline.hpp>
#include <keel/strategy.hpp>

#include "support/scripted_op.hpp"
#include <asio/bind_executor.hpp>
#include <asio/strand.hpp>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace keel::test {
namespace {

using nanos = std::chrono::nanoseconds;

nanos ticks_now() {
    return manual_clock::now().time_since_epoch();
}

/// Records call_start and call_end, in order, into a log the pipeline's
/// copy of the observer shares.
struct call_log_observer {
    std::shared_ptr<std::vector<std::string>> log = std::make_shared<std::vector<std::string>>();
    std::shared_ptr<events::call_end> last_end = std::make_shared<events::call_end>();

    void on(const events::call_start& e) const {
        log->push_back("start " + std::string(e.dependency));
    }
    void on(const events::call_end& e) const {
        log->push_back("end " + std::string(e.dependency));
        *last_end = e;
    }
    template <class Event>
    void on(const Event&) const {}
};

using observed_pipeline =
    basic_pipeline<manual_timer, call_log_observer, asio::any_io_executor, strategy_chain>;
using chain_pipeline =
    basic_pipeline<manual_timer, null_observer, asio::any_io_executor, strategy_chain>;

/// A retry gate that allows everything: a chain with a gate builds every
/// call, so it shows what a refusal of a built call looks like.
struct open_gate final : retry_gate {
    admission may_retry(clock_ticks, int) noexcept override { return admission::admit(); }
};

/// A breaker that judges the last `n` attempts once it has `n` (a failure
/// ratio of 0.5, one probe, breaks of 5 s: the defaults).
circuit_breaker_settings last_n(int n) {
    circuit_breaker_settings s;
    s.window_size = n;
    s.min_calls = n;
    return s;
}

/// A breaker that one failure opens.
std::shared_ptr<circuit_breaker> opened_breaker() {
    return std::make_shared<circuit_breaker>(last_n(1));
}

struct idle_waiter final : admission_waiter {
    void admitted() noexcept override {}
};

void open_now(circuit_breaker& breaker) {
    idle_waiter waiter;
    const admission a = breaker.admit(ticks_now(), waiter);
    attempt_record failure;
    failure.result = attempt_result::failure;
    failure.error = std::make_error_code(std::errc::connection_refused);
    breaker.release(ticks_now(), &failure, a.ticket);
    ASSERT_EQ(breaker.snapshot(ticks_now()).state, circuit_state::open);
}

pipeline_policy policy_of(std::shared_ptr<admission_strategy> breaker, bool with_gate = false) {
    auto chain = std::make_shared<strategy_chain>();
    chain->breaker = std::move(breaker);
    if (with_gate)
        chain->gate = std::make_shared<open_gate>();
    pipeline_policy p;
    p.retry.max_attempts = 1;
    p.strategies = chain;
    return p;
}

class breaker_fast_path_test : public ::testing::Test {
protected:
    void SetUp() override { manual_clock::reset(); }

    /// One call that succeeds after `delay`, through a pipeline whose
    /// breaker is `breaker`.
    completion call_once(std::shared_ptr<admission_strategy> breaker, nanos delay) {
        chain_pipeline p(context, "payments", policy_of(std::move(breaker)));
        scripted_op op(context, {ok(1, delay)});
        completion c;
        p.async_run(std::ref(op), record(c));
        run_for(context, 1s, [&] { return c.done(); });
        return c;
    }

    asio::io_context context;
};

TEST_F(breaker_fast_path_test, a_refusal_before_the_first_attempt_looks_as_a_built_calls_does) {
    auto breaker = opened_breaker();
    open_now(*breaker);
    manual_clock::advance(2s); // 3 s of the break left
    scripted_op op(context, {ok(1)});
    struct outcome {
        completion done;
        call_report report;
        std::vector<std::string> log;
        events::call_end end{};
    };
    const auto run = [&](bool built) {
        observed_pipeline p(context, "payments", policy_of(breaker, built));
        outcome o;
        p.async_run(std::ref(op), o.report, record(o.done));
        EXPECT_FALSE(o.done.done()) << "never completed inside async_run";
        EXPECT_EQ(*p.observer().log, std::vector<std::string>{"start payments"});
        context.restart();
        context.poll();
        o.log = *p.observer().log;
        o.end = *p.observer().last_end;
        return o;
    };
    const outcome fast = run(false);
    const outcome built = run(true);
    EXPECT_EQ(op.calls(), 0);
    for (const outcome* o : {&fast, &built}) {
        ASSERT_EQ(o->done.calls, 1);
        EXPECT_EQ(o->done.ec, make_error_code(errc::circuit_open));
        EXPECT_EQ(o->done.value, 0) << "default-constructed values";
        EXPECT_EQ(o->report.outcome, call_outcome::rejected);
        EXPECT_EQ(o->report.attempts, 0);
        EXPECT_EQ(o->report.reason, give_up_reason::rejected);
        EXPECT_EQ(o->report.refusal, make_error_code(errc::circuit_open));
        EXPECT_EQ(o->report.retry_after, nanos(3s));
        EXPECT_EQ(o->log, (std::vector<std::string>{"start payments", "end payments"}));
        EXPECT_EQ(o->end.outcome, call_outcome::rejected);
        EXPECT_EQ(o->end.attempts, 0);
        EXPECT_EQ(o->end.refusal, make_error_code(errc::circuit_open));
        EXPECT_EQ(o->end.duration, nanos(0));
    }
    // Field by field, the fast path's report is the built call's.
    EXPECT_EQ(fast.report.error, built.report.error);
    EXPECT_EQ(fast.report.fault, built.report.fault);
    EXPECT_EQ(fast.report.last_operation_error, built.report.last_operation_error);
    EXPECT_EQ(fast.report.outcome_unknown, built.report.outcome_unknown);
    EXPECT_EQ(fast.report.original_error, built.report.original_error);
    EXPECT_EQ(fast.report.fallback_error, built.report.fallback_error);
    EXPECT_EQ(fast.end.error, built.end.error);
}

TEST_F(breaker_fast_path_test, a_refused_call_completes_on_the_handlers_own_executor) {
    auto breaker = opened_breaker();
    open_now(*breaker);
    breaker->isolate(ticks_now());
    chain_pipeline p(context, "payments", policy_of(breaker));
    asio::io_context handlers; // the handler's executor: not the pipeline's
    scripted_op op(context, {ok(1)});
    completion c;
    call_report report;
    p.async_run(std::ref(op), report, asio::bind_executor(handlers, record(c)));
    EXPECT_FALSE(c.done()) << "never completed inside async_run";
    context.restart();
    context.poll();
    EXPECT_FALSE(c.done()) << "not on the pipeline's executor";
    handlers.poll();
    ASSERT_TRUE(c.done());
    EXPECT_EQ(c.ec, make_error_code(errc::circuit_open));
    EXPECT_EQ(report.retry_after, std::nullopt) << "isolated: no end of the break";
}

TEST_F(breaker_fast_path_test, a_refused_call_completes_on_the_pipelines_strand) {
    // The pipeline's executor is no plain io_context executor: the refusal
    // goes through it (the strand), not around it.
    auto breaker = opened_breaker();
    open_now(*breaker);
    const auto strand = asio::make_strand(context);
    chain_pipeline p(asio::any_io_executor(strand), "payments", policy_of(breaker));
    scripted_op op(context, {ok(1)});
    bool in_strand = false;
    std::error_code ec;
    p.async_run(std::ref(op), [&](std::error_code e, int) {
        in_strand = strand.running_in_this_thread();
        ec = e;
    });
    EXPECT_FALSE(ec) << "never completed inside async_run";
    context.restart();
    context.poll();
    EXPECT_EQ(ec, make_error_code(errc::circuit_open));
    EXPECT_TRUE(in_strand);
    EXPECT_EQ(op.calls(), 0);
}

static_assert(!detail::has_own_executor_v<void (*)(std::error_code)>);
static_assert(detail::has_own_executor_v<
              asio::executor_binder<void (*)(std::error_code), asio::io_context::executor_type>>);

/// Counts its admissions and releases, and remembers the tickets released.
struct counting_admission final : admission_strategy {
    int admits = 0;
    std::vector<std::uint64_t> released;
    admission admit(clock_ticks, admission_waiter&) override {
        ++admits;
        return admission::admit(41 + static_cast<std::uint64_t>(admits));
    }
    void release(clock_ticks, const attempt_record*, std::uint64_t ticket) noexcept override {
        released.push_back(ticket);
    }
};

TEST_F(breaker_fast_path_test, an_admitted_first_attempt_is_admitted_once_and_keeps_its_ticket) {
    auto counting = std::make_shared<counting_admission>();
    const completion c = call_once(counting, 5ms);
    ASSERT_TRUE(c.done());
    EXPECT_FALSE(c.ec);
    EXPECT_EQ(counting->admits, 1);
    EXPECT_EQ(counting->released, std::vector<std::uint64_t>{42});
}

TEST_F(breaker_fast_path_test, a_half_open_breakers_one_probe_is_taken_once) {
    auto breaker = opened_breaker();
    open_now(*breaker);
    manual_clock::advance(5s); // the break ends: half-open, one probe
    const completion c = call_once(breaker, 1ms);
    ASSERT_TRUE(c.done());
    EXPECT_FALSE(c.ec) << "admitted twice, the probe would have refused itself";
    EXPECT_EQ(breaker->snapshot(ticks_now()).state, circuit_state::closed);
}

/// What it was handed at each release: whether the time was known, the
/// time when asked for it, the duration.
struct time_probe final : admission_strategy {
    explicit time_probe(bool durations) { set_needs_durations(durations); }
    std::vector<bool> known;
    std::vector<clock_ticks> times;
    std::vector<nanos> durations;
    admission admit(clock_ticks, admission_waiter&) override { return admission::admit(); }
    void release(clock_ticks, const attempt_record*, std::uint64_t) noexcept override {}
    void release_at(const lazy_time& now, const attempt_record* a,
                    std::uint64_t) noexcept override {
        known.push_back(now.known());
        times.push_back(now.get());
        durations.push_back(a ? a->duration : nanos(-1));
    }
};

class time_probe_test : public breaker_fast_path_test {
protected:
    /// One call of 7 ms through a pipeline whose breaker is `probe`; the
    /// time it started.
    nanos call_through(const std::shared_ptr<time_probe>& probe) {
        const nanos started = ticks_now();
        EXPECT_TRUE(call_once(probe, 7ms).done());
        return started;
    }
};

TEST_F(time_probe_test, a_strategy_that_needs_no_time_gets_none_until_it_asks) {
    auto probe = std::make_shared<time_probe>(false);
    const nanos started = call_through(probe);
    ASSERT_EQ(probe->known.size(), 1u);
    EXPECT_FALSE(probe->known[0]) << "the clock was read for it";
    EXPECT_EQ(probe->times[0], started + 7ms) << "asked for, the time is exact";
    EXPECT_EQ(probe->durations[0], nanos(0)) << "no durations asked for";
}

TEST_F(time_probe_test, a_strategy_that_needs_durations_gets_exact_times) {
    auto probe = std::make_shared<time_probe>(true);
    const nanos started = call_through(probe);
    ASSERT_EQ(probe->known.size(), 1u);
    EXPECT_TRUE(probe->known[0]);
    EXPECT_EQ(probe->times[0], started + 7ms);
    EXPECT_EQ(probe->durations[0], nanos(7ms));
}

TEST_F(breaker_fast_path_test, a_success_that_opens_a_closed_breaker_opens_it_at_its_exact_end) {
    // Two failures then a success: the window of 3 reaches min_calls with
    // 2/3 failures at the success, whose end no one else times.
    auto breaker = std::make_shared<circuit_breaker>(last_n(3));
    std::vector<circuit_transition> seen;
    breaker->on_transition([&](const circuit_transition& t) { seen.push_back(t); });
    chain_pipeline p(context, "payments", policy_of(breaker));
    const auto refused = std::make_error_code(std::errc::connection_refused);
    for (const step& st : {fail(refused, 2ms), fail(refused, 2ms), ok(1, 3ms)}) {
        scripted_op op(context, {st});
        completion c;
        p.async_run(std::ref(op), record(c));
        run_for(context, 1s, [&] { return c.done(); });
        ASSERT_TRUE(c.done());
    }
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].reason, "failure_ratio");
    EXPECT_EQ(seen[0].at, ticks_now()) << "the success's end, read when the breaker needed it";
    const circuit_snapshot now = breaker->snapshot(ticks_now());
    EXPECT_EQ(now.state, circuit_state::open);
    EXPECT_EQ(now.since, ticks_now());
}

TEST_F(breaker_fast_path_test, a_closed_count_window_breaker_reads_no_time) {
    // Through the strategy, as the engine calls it: a closed breaker with a
    // count window and no slow_call neither admits nor records by the clock.
    circuit_breaker breaker{circuit_breaker_settings{}};
    EXPECT_FALSE(breaker.needs_durations());
    const lazy_time never([]() noexcept -> clock_ticks {
        ADD_FAILURE() << "the time was read";
        return clock_ticks(0);
    });
    idle_waiter waiter;
    const admission a = breaker.admit_at(never, waiter);
    ASSERT_TRUE(a.admitted);
    attempt_record success;
    breaker.release_at(never, &success, a.ticket);
    EXPECT_EQ(breaker.snapshot(ticks_now()).recorded, 1);
    circuit_breaker_settings slow;
    slow.slow_threshold = 1s;
    EXPECT_TRUE(circuit_breaker{slow}.needs_durations());
}

} // namespace
} // namespace keel::test
