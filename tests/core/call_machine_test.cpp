// The call state machine on its own: tables of events and the actions, wake-up
// times and reports they must produce. No io_context, no timer, no thread.
#include <keel/detail/call_machine.hpp>
#include <keel/testing/manual_clock.hpp>

#include <asio/error.hpp>
#include <gtest/gtest.h>

#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

namespace keel::test {
namespace {

using namespace std::chrono_literals;
using clock_type = keel::testing::manual_clock;
using time_point = clock_type::time_point;

const time_point origin = time_point(std::chrono::seconds(1000));

time_point at(std::chrono::milliseconds t) {
    return origin + t;
}

/// Writes the observer's events as one line each.
struct recording_observer {
    std::vector<std::string>* lines;
    void on(const events::call_start&) const { lines->push_back("call_start"); }
    void on(const events::attempt_start& e) const {
        lines->push_back("attempt_start " + std::to_string(e.attempt));
    }
    void on(const events::attempt_end& e) const {
        lines->push_back("attempt_end " + std::to_string(e.attempt) + " " +
                         std::string(to_string(e.result)));
    }
    void on(const events::retry_scheduled& e) const {
        lines->push_back(
            "retry " + std::to_string(e.next_attempt) + " after " +
            std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(e.delay).count()) +
            "ms");
    }
    void on(const events::timeout& e) const {
        lines->push_back("timeout " + std::string(to_string(e.phase)));
    }
    void on(const events::call_end& e) const {
        lines->push_back(
            "call_end " + std::string(to_string(e.outcome)) + " " +
            std::to_string(
                std::chrono::duration_cast<std::chrono::milliseconds>(e.duration).count()) +
            "ms");
    }
};

/// Stands for the driver's waiter: counts how often a strategy admitted it.
struct counting_waiter final : admission_waiter {
    int admitted_calls = 0;
    void admitted() noexcept override { ++admitted_calls; }
};

template <class Chain>
class harness {
public:
    using machine_type = detail::call_machine<clock_type, recording_observer, Chain>;

    harness(const detail::call_params<time_point>& params)
        : observer_{&events}, machine_(params, observer_) {
        if constexpr (Chain::enabled)
            machine_.attach_waiters(waiters[0], {this, &open_slot});
    }

    std::array<counting_waiter, Chain::max_in_flight> waiters;
    /// How many slots the machine has asked a waiter for.
    int slots_opened = 1;

    /// Runs the actions the machine asks for (each executed at once) and
    /// writes them, then the wake-up time: "start 0 #1 | wake 200ms".
    std::string drain() {
        std::ostringstream out;
        for (;;) {
            const detail::call_action a = machine_.next();
            if (a.kind == detail::call_action_kind::none)
                break;
            if (a.kind == detail::call_action_kind::complete) {
                machine_.completed();
                out << "complete ";
                break;
            }
            if (a.kind == detail::call_action_kind::run_fallback) {
                out << "fallback " << int(a.slot) << ' ';
                fallback_inputs.push_back(machine_.fallback_input());
            } else if (a.kind == detail::call_action_kind::start_attempt) {
                out << "start " << int(a.slot) << " #" << machine_.attempt(a.slot).number() << ' ';
                started.push_back(machine_.attempt(a.slot));
            } else {
                out << "cancel " << int(a.slot)
                    << (a.cancel == asio::cancellation_type::terminal ? " terminal " : " other ");
            }
            machine_.action_done(a.slot);
        }
        out << "| wake ";
        const time_point w = machine_.wakeup();
        if (w == time_point::max())
            out << "never";
        else
            out << std::chrono::duration_cast<std::chrono::milliseconds>(w - origin).count()
                << "ms";
        return out.str();
    }

    machine_type& machine() { return machine_; }

    std::vector<std::string> events;
    std::vector<basic_attempt<clock_type>> started;
    std::vector<fallback_context> fallback_inputs;

private:
    /// The driver's part of open_slot: the machine asks for slots in order.
    static admission_waiter* open_slot(void* self, int slot) noexcept {
        harness& h = *static_cast<harness*>(self);
        EXPECT_EQ(slot, h.slots_opened) << "slots are opened in order, each once";
        h.slots_opened = slot + 1;
        return &h.waiters[static_cast<std::size_t>(slot)];
    }

    recording_observer observer_;
    machine_type machine_;
};

// ---- the table ------------------------------------------------------------------

enum class event_kind { start, end, timer, cancel };

struct step {
    int at_ms;
    event_kind what;
    int slot = 0;
    std::error_code ec = {};
    std::string expect; ///< drain() after the event
};

struct call_case {
    std::string name;
    int max_attempts = 3;
    std::chrono::milliseconds backoff = 100ms;
    std::chrono::nanoseconds exchange = unlimited;
    std::chrono::nanoseconds total = unlimited;
    std::vector<step> steps;
    call_outcome outcome;
    give_up_reason reason;
    int attempts;
    std::error_code error;
    std::error_code last_operation_error = {};
};

std::ostream& operator<<(std::ostream& os, const call_case& c) {
    return os << c.name;
}

const std::error_code refused = asio::error::connection_refused;
const std::error_code reset = asio::error::connection_reset;
const std::error_code denied = std::make_error_code(std::errc::permission_denied);
const std::error_code aborted = asio::error::operation_aborted;

step start() {
    return {0, event_kind::start, 0, {}, "start 0 #1 | wake never"};
}

// clang-format off
const call_case cases[] = {
    {"success at once", 3, 100ms, unlimited, unlimited,
     {start(),
      {5, event_kind::end, 0, {}, "complete | wake never"}},
     call_outcome::success, give_up_reason::none, 1, {}},
    {"success after a retry", 3, 100ms, unlimited, unlimited,
     {start(),
      {5, event_kind::end, 0, refused, "| wake 105ms"},
      {105, event_kind::timer, 0, {}, "start 0 #2 | wake never"},
      {110, event_kind::end, 0, {}, "complete | wake never"}},
     call_outcome::success_after_retry, give_up_reason::none, 2, {}, refused},
    {"a timer that fires early changes nothing", 3, 100ms, unlimited, unlimited,
     {start(),
      {5, event_kind::end, 0, refused, "| wake 105ms"},
      {50, event_kind::timer, 0, {}, "| wake 105ms"},
      {105, event_kind::timer, 0, {}, "start 0 #2 | wake never"},
      {110, event_kind::end, 0, {}, "complete | wake never"}},
     call_outcome::success_after_retry, give_up_reason::none, 2, {}, refused},
    {"a permanent error is not retried", 3, 100ms, unlimited, unlimited,
     {start(),
      {5, event_kind::end, 0, denied, "complete | wake never"}},
     call_outcome::failure, give_up_reason::not_retryable, 1, denied, denied},
    {"attempts exhausted keep the last real error", 2, 100ms, unlimited, unlimited,
     {start(),
      {5, event_kind::end, 0, refused, "| wake 105ms"},
      {105, event_kind::timer, 0, {}, "start 0 #2 | wake never"},
      {110, event_kind::end, 0, reset, "complete | wake never"}},
     call_outcome::failure_after_retry, give_up_reason::attempts_exhausted, 2, reset, reset},
    {"exchange timeout: cut, retried, then the deadline", 3, 100ms, 50ms, 400ms,
     {{0, event_kind::start, 0, {}, "start 0 #1 | wake 50ms"},
      {50, event_kind::timer, 0, {}, "cancel 0 terminal | wake never"},
      {51, event_kind::end, 0, aborted, "| wake 151ms"},
      {151, event_kind::timer, 0, {}, "start 0 #2 | wake 201ms"},
      {170, event_kind::end, 0, refused, "| wake 270ms"},
      {270, event_kind::timer, 0, {}, "start 0 #3 | wake 320ms"},
      {320, event_kind::timer, 0, {}, "cancel 0 terminal | wake never"},
      {320, event_kind::end, 0, aborted, "complete | wake never"}},
     call_outcome::timeout, give_up_reason::attempts_exhausted, 3,
     make_error_code(errc::exchange_timeout), refused},
    {"total deadline cuts the attempt", 3, 100ms, 300ms, 200ms,
     {{0, event_kind::start, 0, {}, "start 0 #1 | wake 200ms"},
      {200, event_kind::timer, 0, {}, "cancel 0 terminal | wake never"},
      {201, event_kind::end, 0, aborted, "complete | wake never"}},
     call_outcome::timeout, give_up_reason::deadline, 1,
     make_error_code(errc::deadline_exceeded)},
    {"a sleep past the total deadline gives up with the real error", 3, 100ms, unlimited, 150ms,
     {{0, event_kind::start, 0, {}, "start 0 #1 | wake 150ms"},
      {60, event_kind::end, 0, refused, "complete | wake never"}},
     call_outcome::failure, give_up_reason::deadline, 1, refused, refused},
    {"the operation's own connect timeout keeps its phase", 1, 100ms, unlimited, unlimited,
     {start(),
      {5, event_kind::end, 0, make_error_code(errc::connect_timeout), "complete | wake never"}},
     call_outcome::timeout, give_up_reason::attempts_exhausted, 1,
     make_error_code(errc::connect_timeout)},
    {"cancelled during an attempt", 3, 100ms, unlimited, unlimited,
     {start(),
      {5, event_kind::cancel, 0, {}, "cancel 0 other | wake never"},
      {6, event_kind::end, 0, refused, "complete | wake never"}},
     call_outcome::cancelled, give_up_reason::none, 1, aborted, {}},
    {"cancelled while asleep", 3, 100ms, unlimited, unlimited,
     {start(),
      {5, event_kind::end, 0, refused, "| wake 105ms"},
      {20, event_kind::cancel, 0, {}, "complete | wake never"}},
     call_outcome::cancelled, give_up_reason::none, 1, aborted, refused},
};
// clang-format on

class call_machine_table : public ::testing::TestWithParam<call_case> {};

TEST_P(call_machine_table, events_give_these_actions_and_this_report) {
    const call_case& c = GetParam();
    retry_policy retry;
    retry.max_attempts = c.max_attempts;
    retry.backoff.kind = backoff_kind::constant;
    retry.backoff.initial = c.backoff;
    retry.backoff.max = std::max<std::chrono::nanoseconds>(c.backoff, retry.backoff.max);
    retry.backoff.jitter = jitter_kind::none;
    detail::call_params<time_point> params;
    params.retry = &retry;
    params.exchange = c.exchange;
    params.total = c.total;
    params.name = "dep";
    harness<no_strategies> h(params);
    auto& m = h.machine();
    for (const step& s : c.steps) {
        const time_point now = at(std::chrono::milliseconds(s.at_ms));
        switch (s.what) {
        case event_kind::start:
            m.start(now);
            break;
        case event_kind::end:
            m.attempt_ended(s.slot, now, s.ec);
            break;
        case event_kind::timer:
            m.timer(now);
            break;
        case event_kind::cancel:
            m.cancel(asio::cancellation_type::partial, now);
            break;
        }
        EXPECT_EQ(h.drain(), s.expect) << "after the event at " << s.at_ms << "ms";
    }
    ASSERT_TRUE(m.finished());
    const call_report r = m.report();
    EXPECT_EQ(r.outcome, c.outcome);
    EXPECT_EQ(r.reason, c.reason);
    EXPECT_EQ(r.attempts, c.attempts);
    EXPECT_EQ(r.error, c.error);
    EXPECT_EQ(r.last_operation_error, c.last_operation_error);
    EXPECT_EQ(h.events.front(), "call_start");
    EXPECT_EQ(h.events.back().rfind("call_end " + std::string(to_string(c.outcome)), 0), 0u)
        << h.events.back();
}

INSTANTIATE_TEST_SUITE_P(calls, call_machine_table, ::testing::ValuesIn(cases));

// ---- details the table does not show ------------------------------------------------

detail::call_params<time_point> one_attempt(std::chrono::nanoseconds total,
                                            std::chrono::nanoseconds exchange) {
    detail::call_params<time_point> params;
    params.total = total;
    params.exchange = exchange;
    params.name = "dep";
    return params;
}

TEST(call_machine, an_attempts_deadlines_come_from_its_start_and_the_total) {
    retry_policy retry;
    retry.backoff.jitter = jitter_kind::none;
    auto params = one_attempt(1000ms, 300ms);
    params.connect = 100ms;
    params.retry = &retry;
    harness<no_strategies> h(params);
    h.machine().start(at(0ms));
    EXPECT_EQ(h.drain(), "start 0 #1 | wake 300ms");
    const auto& a = h.started.at(0);
    EXPECT_EQ(a.connect_deadline(), at(100ms));
    EXPECT_EQ(a.exchange_deadline(), at(300ms));
    EXPECT_EQ(a.total_deadline(), at(1000ms));
    EXPECT_EQ(a.max_attempts(), 3);
    EXPECT_TRUE(a.has_feedback());
}

TEST(call_machine, an_attempt_already_due_is_cut_before_it_starts) {
    // The sleep ends 1 ms before the total deadline, but its wake-up comes
    // late, at the deadline itself: the next attempt would start with no
    // time at all.
    retry_policy retry;
    retry.backoff.jitter = jitter_kind::none;
    auto params = one_attempt(100ms, unlimited);
    params.retry = &retry;
    harness<no_strategies> h(params);
    auto& m = h.machine();
    m.start(at(0ms));
    h.drain();
    h.started.at(0).feedback().retry_after(98ms);
    m.attempt_ended(0, at(1ms), refused);
    EXPECT_EQ(h.drain(), "| wake 99ms");
    m.timer(at(100ms));
    EXPECT_EQ(h.drain(), "complete | wake never");
    const call_report r = m.report();
    EXPECT_EQ(r.attempts, 2);
    EXPECT_EQ(r.error, make_error_code(errc::deadline_exceeded));
    EXPECT_EQ(r.reason, give_up_reason::deadline);
    EXPECT_TRUE(m.default_values()) << "the cut attempt has no values of its own";
}

TEST(call_machine, feedback_forbids_a_retry_and_marks_an_unknown_outcome) {
    retry_policy retry;
    auto params = one_attempt(unlimited, unlimited);
    params.retry = &retry;
    harness<no_strategies> h(params);
    auto& m = h.machine();
    m.start(at(0ms));
    h.drain();
    h.started.at(0).feedback().outcome_unknown();
    m.attempt_ended(0, at(1ms), reset);
    EXPECT_EQ(h.drain(), "complete | wake never");
    const call_report r = m.report();
    EXPECT_EQ(r.reason, give_up_reason::not_retryable);
    EXPECT_TRUE(r.outcome_unknown);
    EXPECT_EQ(r.error, reset);
}

TEST(call_machine, a_server_advised_delay_replaces_the_backoff) {
    retry_policy retry;
    retry.backoff.jitter = jitter_kind::none;
    auto params = one_attempt(unlimited, unlimited);
    params.retry = &retry;
    harness<no_strategies> h(params);
    auto& m = h.machine();
    m.start(at(0ms));
    h.drain();
    h.started.at(0).feedback().retry_after(2s);
    m.attempt_ended(0, at(1ms), reset);
    EXPECT_EQ(h.drain(), "| wake 2001ms");
    EXPECT_EQ(h.events.back(), "retry 2 after 2000ms");
}

TEST(call_machine, a_cancel_during_the_start_waits_until_the_start_is_done) {
    auto params = one_attempt(unlimited, unlimited);
    harness<no_strategies> h(params);
    auto& m = h.machine();
    m.start(at(0ms));
    const detail::call_action a = m.next();
    ASSERT_EQ(a.kind, detail::call_action_kind::start_attempt);
    EXPECT_TRUE(m.busy(0));
    m.cancel(asio::cancellation_type::terminal, at(0ms));
    EXPECT_EQ(m.next().kind, detail::call_action_kind::none) << "the slot is busy starting";
    m.action_done(0);
    EXPECT_EQ(h.drain(), "cancel 0 terminal | wake never");
}

TEST(call_machine, the_observer_hears_every_step_in_order) {
    retry_policy retry;
    retry.max_attempts = 2;
    retry.backoff.kind = backoff_kind::constant;
    retry.backoff.initial = 10ms;
    retry.backoff.jitter = jitter_kind::none;
    auto params = one_attempt(unlimited, 50ms);
    params.retry = &retry;
    harness<no_strategies> h(params);
    auto& m = h.machine();
    m.start(at(0ms));
    h.drain();
    m.timer(at(50ms));
    h.drain();
    m.attempt_ended(0, at(50ms), aborted);
    h.drain();
    m.timer(at(60ms));
    h.drain();
    m.attempt_ended(0, at(70ms), {});
    h.drain();
    const std::vector<std::string> expected = {"call_start",
                                               "attempt_start 1",
                                               "attempt_end 1 timeout",
                                               "timeout exchange",
                                               "retry 2 after 10ms",
                                               "attempt_start 2",
                                               "attempt_end 2 success",
                                               "call_end success_after_retry 70ms"};
    EXPECT_EQ(h.events, expected);
}

// ---- strategies: admission, gating, observation, parallel attempts ---------------

struct test_admission final : admission_strategy {
    std::vector<bool> answers; ///< admit or refuse, in order; admit when run out
    std::chrono::nanoseconds retry_after{0};
    int asked = 0;
    int released = 0;
    int released_unstarted = 0;
    std::vector<attempt_result> results;
    std::vector<const admission_waiter*> waiters; ///< the waiter of each admission asked

    admission admit(clock_ticks, admission_waiter& waiter) override {
        waiters.push_back(&waiter);
        const bool yes = asked < static_cast<int>(answers.size()) ? answers[asked] : true;
        ++asked;
        return yes ? admission::admit() : admission::reject(errc::circuit_open, retry_after);
    }
    void release(clock_ticks, const attempt_record* a, std::uint64_t) noexcept override {
        ++released;
        if (!a)
            ++released_unstarted;
        else
            results.push_back(a->result);
    }
};

struct test_gate final : retry_gate {
    bool allow = true;
    int calls = 0;
    int asked = 0;
    void on_call_start(clock_ticks) noexcept override { ++calls; }
    admission may_retry(clock_ticks, int) noexcept override {
        ++asked;
        return allow ? admission::admit() : admission::reject(errc::retry_budget_exhausted);
    }
};

/// test_gate, hearing attempts or call ends: not a quiet gate.
struct hearing_gate final : retry_gate {
    hearing_gate(bool attempts, bool call_ends) { set_hearing(attempts, call_ends); }
    admission may_retry(clock_ticks, int) noexcept override { return admission::admit(); }
};

struct test_listener final : attempt_listener {
    std::vector<int> ended;
    void on_attempt_end(clock_ticks, const attempt_record& a) noexcept override {
        ended.push_back(a.attempt);
    }
};

struct hedge_after final : parallel_attempts {
    std::chrono::nanoseconds delay;
    explicit hedge_after(std::chrono::nanoseconds d) : delay(d) {}
    int max_in_flight() const noexcept override { return 2; }
    std::optional<std::chrono::nanoseconds> delay_before(int) const noexcept override {
        return delay;
    }
};

detail::call_params<time_point> with_chain(const strategy_chain& chain, const retry_policy* retry) {
    detail::call_params<time_point> params;
    params.strategies = &chain;
    params.retry = retry;
    params.name = "dep";
    return params;
}

TEST(call_machine_strategies, a_refused_first_attempt_is_a_rejected_call_with_no_attempt) {
    strategy_chain chain;
    auto breaker = std::make_shared<test_admission>();
    breaker->answers = {false};
    breaker->retry_after = 5s;
    chain.breaker = breaker;
    retry_policy retry;
    harness<strategy_chain> h(with_chain(chain, &retry));
    h.machine().start(at(0ms));
    EXPECT_EQ(h.drain(), "complete | wake never");
    const call_report r = h.machine().report();
    EXPECT_EQ(r.outcome, call_outcome::rejected);
    EXPECT_EQ(r.attempts, 0);
    EXPECT_EQ(r.reason, give_up_reason::rejected);
    EXPECT_EQ(r.error, make_error_code(errc::circuit_open));
    EXPECT_TRUE(r.error == condition::rejected);
    EXPECT_EQ(r.fault, fault_class::rejected);
    EXPECT_EQ(r.refusal, make_error_code(errc::circuit_open));
    ASSERT_TRUE(r.retry_after);
    EXPECT_EQ(*r.retry_after, 5s);
    EXPECT_EQ(breaker->released, 0) << "a refusing strategy holds no permit";
}

TEST(call_machine_strategies, inner_refusal_hands_back_the_outer_permits) {
    strategy_chain chain;
    auto breaker = std::make_shared<test_admission>();
    auto bulkhead = std::make_shared<test_admission>();
    bulkhead->answers = {false};
    chain.breaker = breaker;
    chain.bulkhead = bulkhead;
    harness<strategy_chain> h(with_chain(chain, nullptr));
    h.machine().start(at(0ms));
    EXPECT_EQ(h.drain(), "complete | wake never");
    EXPECT_EQ(breaker->asked, 1);
    EXPECT_EQ(breaker->released_unstarted, 1);
    EXPECT_EQ(bulkhead->released, 0);
}

TEST(call_machine_strategies, permits_are_held_per_attempt_and_returned_when_it_ends) {
    strategy_chain chain;
    auto bulkhead = std::make_shared<test_admission>();
    auto listener = std::make_shared<test_listener>();
    chain.bulkhead = bulkhead;
    chain.listener = listener;
    retry_policy retry;
    retry.backoff.jitter = jitter_kind::none;
    harness<strategy_chain> h(with_chain(chain, &retry));
    auto& m = h.machine();
    m.start(at(0ms));
    h.drain();
    EXPECT_EQ(bulkhead->asked, 1);
    EXPECT_EQ(bulkhead->released, 0);
    m.attempt_ended(0, at(5ms), refused);
    h.drain();
    EXPECT_EQ(bulkhead->released, 1) << "no permit is held across the backoff sleep";
    EXPECT_TRUE(m.sleeping());
    m.timer(m.wakeup());
    h.drain();
    EXPECT_EQ(bulkhead->asked, 2);
    m.attempt_ended(0, at(300ms), {});
    EXPECT_EQ(h.drain(), "complete | wake never");
    EXPECT_EQ(bulkhead->released, 2);
    EXPECT_EQ(bulkhead->results,
              (std::vector<attempt_result>{attempt_result::failure, attempt_result::success}));
    EXPECT_EQ(listener->ended, (std::vector<int>{1, 2}));
}

TEST(call_machine_strategies, a_refused_retry_ends_with_the_last_real_error) {
    strategy_chain chain;
    auto gate = std::make_shared<test_gate>();
    gate->allow = false;
    chain.gate = gate;
    retry_policy retry;
    harness<strategy_chain> h(with_chain(chain, &retry));
    auto& m = h.machine();
    m.start(at(0ms));
    h.drain();
    EXPECT_EQ(gate->calls, 1);
    m.attempt_ended(0, at(5ms), refused);
    EXPECT_EQ(h.drain(), "complete | wake never");
    const call_report r = m.report();
    EXPECT_EQ(gate->asked, 1);
    EXPECT_EQ(r.error, refused);
    EXPECT_EQ(r.outcome, call_outcome::failure);
    EXPECT_EQ(r.reason, give_up_reason::rejected);
    EXPECT_EQ(r.refusal, make_error_code(errc::retry_budget_exhausted));
}

TEST(call_machine_gated, a_quiet_gate_alone_runs_on_the_plain_engine) {
    strategy_chain chain;
    chain.gate = std::make_shared<test_gate>();
    EXPECT_TRUE(detail::has_gate_only(chain));
    EXPECT_FALSE(detail::has_single_admission(chain));
    chain.gate = std::make_shared<hearing_gate>(true, false);
    EXPECT_FALSE(detail::has_gate_only(chain)) << "a gate hearing attempts";
    chain.gate = std::make_shared<test_gate>();
    chain.listener = std::make_shared<test_listener>();
    EXPECT_FALSE(detail::has_gate_only(chain)) << "a listener";
    chain.listener.reset();
    chain.bulkhead = std::make_shared<test_admission>();
    EXPECT_FALSE(detail::has_gate_only(chain)) << "an admission strategy: single_admission";
    EXPECT_FALSE(detail::has_gate_only(strategy_chain{})) << "nothing";
}

/// The plain engine (no_strategies) and the single one, given a chain with a
/// quiet gate: the gate hears the call's start and is asked before each
/// retry, as on the serial engine.
template <class Engine>
void a_quiet_gate_is_asked_at_the_start_and_before_each_retry() {
    strategy_chain chain;
    auto gate = std::make_shared<test_gate>();
    chain.gate = gate;
    if constexpr (std::is_same_v<Engine, detail::single_admission>)
        chain.bulkhead = std::make_shared<test_admission>();
    retry_policy retry;
    retry.backoff.jitter = jitter_kind::none;
    harness<Engine> h(with_chain(chain, &retry));
    auto& m = h.machine();
    EXPECT_TRUE(m.needs_clock()) << "the gate's deposit is filed by the call's start time";
    m.start(at(0ms));
    EXPECT_EQ(h.drain(), "start 0 #1 | wake never");
    EXPECT_EQ(gate->calls, 1);
    m.attempt_ended(0, at(5ms), refused);
    h.drain();
    EXPECT_EQ(gate->asked, 1) << "the retry was asked for";
    m.timer(m.wakeup());
    EXPECT_EQ(h.drain(), "start 0 #2 | wake never");
    gate->allow = false;
    m.attempt_ended(0, at(300ms), refused);
    EXPECT_EQ(h.drain(), "complete | wake never");
    EXPECT_EQ(gate->asked, 2);
    EXPECT_EQ(gate->calls, 1) << "one start per call";
    const call_report r = m.report();
    EXPECT_EQ(r.attempts, 2);
    EXPECT_EQ(r.error, refused) << "the last real error";
    EXPECT_EQ(r.reason, give_up_reason::rejected);
    EXPECT_EQ(r.refusal, make_error_code(errc::retry_budget_exhausted));
}

TEST(call_machine_gated, the_plain_engine_asks_a_quiet_gate) {
    a_quiet_gate_is_asked_at_the_start_and_before_each_retry<no_strategies>();
}

TEST(call_machine_gated, the_single_engine_asks_a_quiet_gate) {
    a_quiet_gate_is_asked_at_the_start_and_before_each_retry<detail::single_admission>();
}

TEST(call_machine_strategies, an_admission_refusing_a_retry_ends_with_the_last_real_error) {
    strategy_chain chain;
    auto breaker = std::make_shared<test_admission>();
    breaker->answers = {true, false};
    chain.breaker = breaker;
    retry_policy retry;
    retry.backoff.jitter = jitter_kind::none;
    harness<strategy_chain> h(with_chain(chain, &retry));
    auto& m = h.machine();
    m.start(at(0ms));
    h.drain();
    m.attempt_ended(0, at(5ms), refused);
    h.drain();
    m.timer(m.wakeup());
    EXPECT_EQ(h.drain(), "complete | wake never");
    const call_report r = m.report();
    EXPECT_EQ(r.error, refused);
    EXPECT_EQ(r.attempts, 1);
    EXPECT_EQ(r.outcome, call_outcome::failure);
    EXPECT_EQ(r.reason, give_up_reason::rejected);
    EXPECT_EQ(r.refusal, make_error_code(errc::circuit_open));
}

TEST(call_machine_strategies, a_second_attempt_starts_beside_a_slow_one_and_the_winner_cancels_it) {
    strategy_chain chain;
    chain.parallel = std::make_shared<hedge_after>(100ms);
    auto bulkhead = std::make_shared<test_admission>();
    chain.bulkhead = bulkhead;
    retry_policy retry;
    harness<strategy_chain> h(with_chain(chain, &retry));
    auto& m = h.machine();
    m.start(at(0ms));
    EXPECT_EQ(h.drain(), "start 0 #1 | wake 100ms");
    m.timer(at(100ms));
    EXPECT_EQ(h.drain(), "start 1 #2 | wake never") << "two in flight: the most it allows";
    EXPECT_EQ(m.in_flight(), 2);
    EXPECT_TRUE(m.attempt_ended(1, at(130ms), {})) << "the winner's values are the call's";
    EXPECT_EQ(h.drain(), "cancel 0 terminal | wake never")
        << "the call does not complete before the loser has";
    EXPECT_FALSE(m.attempt_ended(0, at(131ms), aborted)) << "the loser's values are not";
    EXPECT_EQ(h.drain(), "complete | wake never");
    const call_report r = m.report();
    EXPECT_FALSE(r.error);
    EXPECT_EQ(r.attempts, 2);
    EXPECT_EQ(r.outcome, call_outcome::success_after_retry);
    EXPECT_EQ(bulkhead->released, 2) << "each attempt gave back its permit when it ended";
}

TEST(call_machine_strategies, a_slot_is_built_only_for_a_hedge_that_finds_the_others_busy) {
    strategy_chain chain;
    chain.parallel = std::make_shared<hedge_after>(100ms);
    auto bulkhead = std::make_shared<test_admission>();
    chain.bulkhead = bulkhead;
    retry_policy retry;
    harness<strategy_chain> won(with_chain(chain, &retry));
    won.machine().start(at(0ms));
    EXPECT_EQ(won.drain(), "start 0 #1 | wake 100ms");
    won.machine().attempt_ended(0, at(30ms), {});
    EXPECT_EQ(won.drain(), "complete | wake never");
    EXPECT_EQ(won.machine().slots_used(), 1) << "the primary won: no slot beside it was built";
    EXPECT_EQ(won.slots_opened, 1);

    harness<strategy_chain> h(with_chain(chain, &retry));
    auto& m = h.machine();
    m.start(at(0ms));
    h.drain();
    m.timer(at(100ms));
    EXPECT_EQ(h.drain(), "start 1 #2 | wake never");
    EXPECT_EQ(m.slots_used(), 2);
    EXPECT_EQ(h.slots_opened, 2);
    ASSERT_EQ(bulkhead->waiters.size(), 3u);
    EXPECT_EQ(bulkhead->waiters[2], &h.waiters[1])
        << "the hedge is admitted with its slot's waiter";
}

TEST(call_machine_strategies, a_failed_parallel_attempt_waits_for_the_other_one) {
    strategy_chain chain;
    chain.parallel = std::make_shared<hedge_after>(100ms);
    retry_policy retry;
    retry.max_attempts = 2;
    harness<strategy_chain> h(with_chain(chain, &retry));
    auto& m = h.machine();
    m.start(at(0ms));
    h.drain();
    m.timer(at(100ms));
    EXPECT_EQ(h.drain(), "start 1 #2 | wake never") << "max_attempts reached: no third";
    m.attempt_ended(0, at(120ms), refused);
    EXPECT_EQ(h.drain(), "| wake never");
    m.attempt_ended(1, at(150ms), {});
    EXPECT_EQ(h.drain(), "complete | wake never");
    EXPECT_FALSE(m.report().error);
}

TEST(call_machine_strategies, the_callers_cancel_reaches_every_attempt_in_flight) {
    strategy_chain chain;
    chain.parallel = std::make_shared<hedge_after>(10ms);
    retry_policy retry;
    harness<strategy_chain> h(with_chain(chain, &retry));
    auto& m = h.machine();
    m.start(at(0ms));
    h.drain();
    m.timer(at(10ms));
    h.drain();
    m.cancel(asio::cancellation_type::terminal, at(20ms));
    EXPECT_EQ(h.drain(), "cancel 0 terminal cancel 1 terminal | wake never");
    m.attempt_ended(0, at(21ms), aborted);
    EXPECT_EQ(h.drain(), "| wake never");
    m.attempt_ended(1, at(22ms), aborted);
    EXPECT_EQ(h.drain(), "complete | wake never");
    EXPECT_EQ(m.report().outcome, call_outcome::cancelled);
}

TEST(call_machine_strategies, an_abandoned_attempt_gives_its_permit_back) {
    strategy_chain chain;
    auto bulkhead = std::make_shared<test_admission>();
    chain.bulkhead = bulkhead;
    harness<strategy_chain> h(with_chain(chain, nullptr));
    auto& m = h.machine();
    m.start(at(0ms));
    h.drain();
    m.attempt_abandoned(0);
    EXPECT_EQ(bulkhead->released, 1);
    m.attempt_abandoned(0); // twice is harmless
    EXPECT_EQ(bulkhead->released, 1);
}

// ---- the single_admission engine: one admission strategy, no other seam -------------

/// Admits with `ticket`, or first makes the attempt wait or reserves its
/// permit; records the tickets handed back.
struct ticket_admission final : admission_strategy {
    std::uint64_t ticket = 42;
    bool wait_first = false;                               ///< the first answer is a wait
    std::optional<std::chrono::nanoseconds> reserve_first; ///< the first answer is a reservation
    int asked = 0;
    std::vector<std::uint64_t> tickets;
    std::vector<bool> with_record;

    admission admit(clock_ticks, admission_waiter&) override {
        ++asked;
        if (asked == 1 && wait_first)
            return admission::wait_at_most(50ms, errc::bulkhead_timeout);
        if (asked == 1 && reserve_first)
            return admission::admit_after(*reserve_first, errc::rate_limited, ticket);
        return admission::admit(ticket);
    }
    void release(clock_ticks, const attempt_record* a, std::uint64_t t) noexcept override {
        tickets.push_back(t);
        with_record.push_back(a != nullptr);
    }
};

TEST(call_machine_single_admission, is_the_engine_of_one_admission_strategy_and_no_other_seam) {
    strategy_chain chain;
    chain.rate_limiter = std::make_shared<ticket_admission>();
    EXPECT_TRUE(detail::has_single_admission(chain));
    chain.bulkhead = std::make_shared<ticket_admission>();
    EXPECT_FALSE(detail::has_single_admission(chain)) << "two admission strategies";
    chain.bulkhead.reset();
    chain.listener = std::make_shared<test_listener>();
    EXPECT_FALSE(detail::has_single_admission(chain)) << "a listener";
    chain.listener.reset();
    chain.gate = std::make_shared<test_gate>();
    EXPECT_TRUE(detail::has_single_admission(chain)) << "a quiet retry gate (the default budget)";
    chain.gate = std::make_shared<hearing_gate>(true, false);
    EXPECT_FALSE(detail::has_single_admission(chain)) << "a gate hearing attempts";
    chain.gate = std::make_shared<hearing_gate>(false, true);
    EXPECT_FALSE(detail::has_single_admission(chain)) << "a gate hearing call ends";
    chain.gate.reset();
    chain.parallel = std::make_shared<hedge_after>(10ms);
    EXPECT_FALSE(detail::has_single_admission(chain)) << "parallel attempts";
    EXPECT_FALSE(detail::has_single_admission(strategy_chain{})) << "nothing";
}

/// One ticket_admission as the chain's `stage`, alone: the single_admission
/// engine.
struct single_chain {
    strategy_chain chain;
    std::shared_ptr<ticket_admission> only = std::make_shared<ticket_admission>();
    std::optional<harness<detail::single_admission>> h;

    explicit single_chain(std::shared_ptr<admission_strategy> strategy_chain::*stage,
                          const retry_policy* retry = nullptr) {
        chain.*stage = only;
        h.emplace(with_chain(chain, retry));
    }
    detail::call_machine<clock_type, recording_observer, detail::single_admission>& m() {
        return h->machine();
    }
    std::string drain() { return h->drain(); }
};

TEST(call_machine_single_admission, each_stage_hands_its_ticket_back_with_every_attempt) {
    retry_policy retry;
    retry.backoff.jitter = jitter_kind::none;
    for (auto stage :
         {&strategy_chain::breaker, &strategy_chain::rate_limiter, &strategy_chain::bulkhead}) {
        single_chain c(stage, &retry);
        c.m().start(at(0ms));
        EXPECT_EQ(c.drain(), "start 0 #1 | wake never");
        c.m().attempt_ended(0, at(5ms), refused);
        c.drain();
        EXPECT_EQ(c.only->tickets, (std::vector<std::uint64_t>{42})) << "before the backoff sleep";
        c.m().timer(c.m().wakeup());
        EXPECT_EQ(c.drain(), "start 0 #2 | wake never");
        c.m().attempt_ended(0, at(300ms), {});
        EXPECT_EQ(c.drain(), "complete | wake never");
        EXPECT_EQ(c.only->asked, 2);
        EXPECT_EQ(c.only->tickets, (std::vector<std::uint64_t>{42, 42}));
        EXPECT_EQ(c.only->with_record, (std::vector<bool>{true, true}));
        EXPECT_EQ(c.m().report().outcome, call_outcome::success_after_retry);
    }
}

TEST(call_machine_single_admission, a_refused_first_attempt_is_a_rejected_call) {
    strategy_chain chain;
    auto bulkhead = std::make_shared<test_admission>();
    bulkhead->answers = {false};
    chain.bulkhead = bulkhead;
    harness<detail::single_admission> h(with_chain(chain, nullptr));
    h.machine().start(at(0ms));
    EXPECT_EQ(h.drain(), "complete | wake never");
    EXPECT_EQ(h.machine().report().outcome, call_outcome::rejected);
    EXPECT_EQ(h.machine().report().attempts, 0);
    EXPECT_EQ(bulkhead->released, 0);
}

TEST(call_machine_single_admission, the_breakers_first_permit_is_taken_not_asked_again) {
    single_chain c(&strategy_chain::breaker);
    c.m().breaker_admitted_first(7);
    c.m().start(at(0ms));
    EXPECT_EQ(c.drain(), "start 0 #1 | wake never");
    EXPECT_EQ(c.only->asked, 0);
    c.m().attempt_ended(0, at(5ms), {});
    EXPECT_EQ(c.drain(), "complete | wake never");
    EXPECT_EQ(c.only->tickets, (std::vector<std::uint64_t>{7}));
    EXPECT_EQ(c.only->with_record, (std::vector<bool>{true}));
}

TEST(call_machine_single_admission, a_call_cancelled_before_it_starts_hands_the_first_permit_back) {
    single_chain c(&strategy_chain::breaker);
    c.m().breaker_admitted_first(7);
    c.m().cancel(asio::cancellation_type::terminal, at(0ms));
    c.m().start(at(0ms));
    EXPECT_EQ(c.drain(), "complete | wake never");
    EXPECT_EQ(c.only->tickets, (std::vector<std::uint64_t>{7}));
    EXPECT_EQ(c.only->with_record, (std::vector<bool>{false})) << "never attempted";
}

TEST(call_machine_single_admission, a_waiting_attempt_starts_when_admitted) {
    single_chain c(&strategy_chain::bulkhead);
    c.only->wait_first = true;
    c.m().start(at(0ms));
    EXPECT_EQ(c.drain(), "| wake 50ms");
    EXPECT_EQ(c.m().waiting(), 1);
    c.m().admission_granted(0, at(10ms));
    EXPECT_EQ(c.drain(), "start 0 #1 | wake never");
    EXPECT_EQ(c.only->asked, 1) << "not asked again";
    c.m().attempt_ended(0, at(20ms), {});
    EXPECT_EQ(c.drain(), "complete | wake never");
    EXPECT_EQ(c.only->tickets, (std::vector<std::uint64_t>{0})) << "a waiter's ticket is 0";
}

TEST(call_machine_single_admission, a_reserved_permit_starts_the_attempt_when_due) {
    single_chain c(&strategy_chain::rate_limiter);
    c.only->reserve_first = 30ms;
    c.m().start(at(0ms));
    EXPECT_EQ(c.drain(), "| wake 30ms");
    EXPECT_TRUE(c.m().woken_by_timer_only());
    c.m().timer(at(30ms));
    EXPECT_EQ(c.drain(), "start 0 #1 | wake never");
    EXPECT_EQ(c.only->asked, 1);
    c.m().attempt_ended(0, at(40ms), {});
    EXPECT_EQ(c.drain(), "complete | wake never");
    EXPECT_EQ(c.only->tickets, (std::vector<std::uint64_t>{42}));
}

// ---- the fallback, around the whole call ----------------------------------------------

detail::call_params<time_point> with_fallback_on(fault_set on, const retry_policy* retry) {
    auto params = one_attempt(1000ms, 100ms);
    params.retry = retry;
    params.fallback_on = on;
    return params;
}

TEST(call_machine_fallback, answers_a_timeout_and_keeps_the_original_error) {
    harness<no_strategies> h(with_fallback_on(default_fallback_on, nullptr));
    auto& m = h.machine();
    m.start(at(0ms));
    h.drain();
    m.timer(at(100ms));
    h.drain();
    EXPECT_TRUE(m.attempt_ended(0, at(100ms), aborted));
    EXPECT_EQ(h.drain(), "fallback 0 | wake never") << "not complete before the fallback";
    ASSERT_EQ(h.fallback_inputs.size(), 1u);
    const fallback_context& in = h.fallback_inputs[0];
    EXPECT_EQ(in.error, make_error_code(errc::exchange_timeout));
    EXPECT_EQ(in.report.outcome, call_outcome::timeout);
    EXPECT_EQ(in.report.attempts, 1);
    EXPECT_EQ(in.time_left, 900ms);
    EXPECT_TRUE(m.attempt_ended(0, at(101ms), {})) << "the fallback's values are the call's";
    EXPECT_EQ(h.drain(), "complete | wake never");
    const call_report r = m.report();
    EXPECT_EQ(r.outcome, call_outcome::fallback);
    EXPECT_FALSE(r.error);
    EXPECT_EQ(r.original_error, make_error_code(errc::exchange_timeout));
    EXPECT_FALSE(r.fallback_error);
    EXPECT_EQ(h.events.back(), "call_end fallback 101ms") << "its duration includes the fallback";
}

TEST(call_machine_fallback, a_failed_fallback_leaves_the_calls_own_error) {
    harness<no_strategies> h(with_fallback_on(default_fallback_on, nullptr));
    auto& m = h.machine();
    m.start(at(0ms));
    h.drain();
    m.attempt_ended(0, at(5ms), refused);
    EXPECT_EQ(h.drain(), "fallback 0 | wake never");
    EXPECT_FALSE(m.attempt_ended(0, at(6ms), reset)) << "the call keeps its own values";
    EXPECT_EQ(h.drain(), "complete | wake never");
    const call_report r = m.report();
    EXPECT_EQ(r.error, refused);
    EXPECT_EQ(r.outcome, call_outcome::failure);
    EXPECT_EQ(r.original_error, refused);
    EXPECT_EQ(r.fallback_error, reset);
}

TEST(call_machine_fallback, not_for_a_class_it_does_not_answer) {
    harness<no_strategies> h(with_fallback_on(default_fallback_on, nullptr));
    auto& m = h.machine();
    m.start(at(0ms));
    h.drain();
    m.attempt_ended(0, at(5ms), denied); // permanent
    EXPECT_EQ(h.drain(), "complete | wake never");
    EXPECT_FALSE(m.report().original_error);
}

TEST(call_machine_fallback, not_when_the_caller_cancelled) {
    harness<no_strategies> h(with_fallback_on(default_fallback_on, nullptr));
    auto& m = h.machine();
    m.start(at(0ms));
    h.drain();
    m.cancel(asio::cancellation_type::terminal, at(1ms));
    h.drain();
    m.attempt_ended(0, at(2ms), aborted);
    EXPECT_EQ(h.drain(), "complete | wake never");
    EXPECT_EQ(m.report().outcome, call_outcome::cancelled);
}

TEST(call_machine_fallback, not_with_no_time_left) {
    auto params = with_fallback_on(default_fallback_on, nullptr);
    params.exchange = unlimited;
    harness<no_strategies> h(params);
    auto& m = h.machine();
    m.start(at(0ms));
    h.drain();
    m.timer(at(1000ms));
    h.drain();
    m.attempt_ended(0, at(1000ms), aborted);
    EXPECT_EQ(h.drain(), "complete | wake never");
    EXPECT_EQ(m.report().error, make_error_code(errc::deadline_exceeded));
}

TEST(call_machine_fallback, a_cancel_while_it_runs_reaches_it) {
    harness<no_strategies> h(with_fallback_on(default_fallback_on, nullptr));
    auto& m = h.machine();
    m.start(at(0ms));
    h.drain();
    m.attempt_ended(0, at(5ms), refused);
    h.drain();
    m.cancel(asio::cancellation_type::terminal, at(6ms));
    EXPECT_EQ(h.drain(), "cancel 0 terminal | wake never");
    m.attempt_ended(0, at(7ms), aborted);
    EXPECT_EQ(h.drain(), "complete | wake never");
    EXPECT_EQ(m.report().fallback_error, aborted);
    EXPECT_EQ(m.report().error, refused);
}

TEST(call_machine_fallback, answers_a_refused_call) {
    strategy_chain chain;
    auto breaker = std::make_shared<test_admission>();
    breaker->answers = {false};
    chain.breaker = breaker;
    auto params = with_chain(chain, nullptr);
    params.fallback_on = default_fallback_on;
    harness<strategy_chain> h(params);
    auto& m = h.machine();
    m.start(at(0ms));
    EXPECT_EQ(h.drain(), "fallback 0 | wake never");
    EXPECT_EQ(h.fallback_inputs.at(0).error, make_error_code(errc::circuit_open));
    EXPECT_EQ(h.fallback_inputs.at(0).report.outcome, call_outcome::rejected);
    m.attempt_ended(0, at(1ms), {});
    EXPECT_EQ(h.drain(), "complete | wake never");
    EXPECT_EQ(m.report().outcome, call_outcome::fallback);
    EXPECT_EQ(breaker->released, 0) << "no strategy hears of the fallback";
}

// ---- waiting for admission ---------------------------------------------------------

/// Makes attempts wait while `full`; remembers the waiter it holds.
struct waiting_admission final : admission_strategy {
    bool full = true;
    std::chrono::nanoseconds max_wait = 50ms;
    bool still_queued = true; ///< what withdraw() answers
    admission_waiter* queued = nullptr;
    int released = 0;
    int withdrawn = 0;
    admission admit(clock_ticks, admission_waiter& w) override {
        if (!full)
            return admission::admit();
        queued = &w;
        return admission::wait_at_most(max_wait, errc::bulkhead_timeout);
    }
    void release(clock_ticks, const attempt_record*, std::uint64_t) noexcept override {
        ++released;
    }
    bool withdraw(admission_waiter& w) noexcept override {
        EXPECT_EQ(&w, queued);
        ++withdrawn;
        return still_queued;
    }
};

struct waiting_setup {
    strategy_chain chain;
    std::shared_ptr<test_admission> breaker = std::make_shared<test_admission>();
    std::shared_ptr<waiting_admission> bulkhead = std::make_shared<waiting_admission>();
    retry_policy retry;
    waiting_setup() {
        chain.breaker = breaker;
        chain.bulkhead = bulkhead;
    }
    detail::call_params<time_point> params(std::chrono::nanoseconds total) {
        auto p = with_chain(chain, &retry);
        p.total = total;
        return p;
    }
};

TEST(call_machine_waiting, an_attempt_waits_for_its_permit_then_starts) {
    waiting_setup w;
    harness<strategy_chain> h(w.params(unlimited));
    auto& m = h.machine();
    m.start(at(0ms));
    EXPECT_EQ(h.drain(), "| wake 50ms") << "no start while it waits";
    EXPECT_EQ(m.waiting(), 1);
    EXPECT_EQ(w.bulkhead->queued, &h.waiters[0]);
    m.admission_granted(0, at(20ms));
    EXPECT_EQ(m.waiting(), 0);
    EXPECT_EQ(h.drain(), "start 0 #1 | wake never");
    m.attempt_ended(0, at(30ms), {});
    EXPECT_EQ(h.drain(), "complete | wake never");
    EXPECT_EQ(w.bulkhead->released, 1) << "the granted permit goes back when the attempt ends";
    EXPECT_EQ(w.breaker->released, 1);
}

TEST(call_machine_waiting, a_wait_that_runs_out_is_a_refusal) {
    waiting_setup w;
    harness<strategy_chain> h(w.params(unlimited));
    auto& m = h.machine();
    m.start(at(0ms));
    h.drain();
    m.timer(at(50ms));
    EXPECT_EQ(h.drain(), "complete | wake never");
    EXPECT_EQ(w.bulkhead->withdrawn, 1);
    EXPECT_EQ(m.waiting(), 0);
    const call_report r = m.report();
    EXPECT_EQ(r.outcome, call_outcome::rejected);
    EXPECT_EQ(r.attempts, 0);
    EXPECT_EQ(r.error, make_error_code(errc::bulkhead_timeout));
    EXPECT_EQ(w.breaker->released_unstarted, 1) << "the breaker's permit goes back";
    EXPECT_EQ(w.bulkhead->released, 0) << "no bulkhead permit was ever held";
}

TEST(call_machine_waiting, a_grant_already_on_its_way_is_taken) {
    waiting_setup w;
    w.bulkhead->still_queued = false;
    harness<strategy_chain> h(w.params(unlimited));
    auto& m = h.machine();
    m.start(at(0ms));
    h.drain();
    m.timer(at(50ms));
    EXPECT_EQ(h.drain(), "| wake never") << "withdraw() said the grant is coming";
    EXPECT_EQ(m.waiting(), 1);
    m.admission_granted(0, at(51ms));
    EXPECT_EQ(h.drain(), "start 0 #1 | wake never");
}

TEST(call_machine_waiting, the_total_deadline_cuts_the_wait) {
    waiting_setup w;
    harness<strategy_chain> h(w.params(30ms));
    auto& m = h.machine();
    m.start(at(0ms));
    EXPECT_EQ(h.drain(), "| wake 30ms");
    m.timer(at(30ms));
    EXPECT_EQ(h.drain(), "complete | wake never");
    const call_report r = m.report();
    EXPECT_EQ(r.error, make_error_code(errc::deadline_exceeded));
    EXPECT_EQ(r.reason, give_up_reason::deadline);
    EXPECT_EQ(r.outcome, call_outcome::timeout);
}

TEST(call_machine_waiting, the_callers_cancel_withdraws_the_waiter) {
    waiting_setup w;
    harness<strategy_chain> h(w.params(unlimited));
    auto& m = h.machine();
    m.start(at(0ms));
    h.drain();
    m.cancel(asio::cancellation_type::terminal, at(10ms));
    EXPECT_EQ(h.drain(), "complete | wake never");
    EXPECT_EQ(w.bulkhead->withdrawn, 1);
    EXPECT_EQ(m.report().outcome, call_outcome::cancelled);
    EXPECT_EQ(w.breaker->released_unstarted, 1);
}

TEST(call_machine_waiting, a_cancelled_call_gives_back_a_grant_that_came_late) {
    waiting_setup w;
    w.bulkhead->still_queued = false;
    harness<strategy_chain> h(w.params(unlimited));
    auto& m = h.machine();
    m.start(at(0ms));
    h.drain();
    m.cancel(asio::cancellation_type::terminal, at(10ms));
    EXPECT_EQ(h.drain(), "| wake never") << "not complete while its strategy may still call it";
    m.admission_granted(0, at(11ms));
    EXPECT_EQ(h.drain(), "complete | wake never");
    EXPECT_EQ(w.bulkhead->released, 1) << "the late permit went straight back";
    EXPECT_EQ(m.report().outcome, call_outcome::cancelled);
}

} // namespace
} // namespace keel::test
