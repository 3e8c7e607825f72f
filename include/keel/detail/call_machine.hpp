// The decisions of one call, as a state machine free of executors, timers
// and atomics: it is fed events (the call starts, an attempt ended, the clock
// reached its wake-up time, the caller cancelled) and answers with actions
// (start an attempt, cancel one, complete the call) and the time it wants to
// be woken at. run_op executes the actions; tests feed events by hand.
//
// What it decides: each attempt's deadlines and the "already due" cut; the
// error the caller sees (keel's timeout codes when keel cut an attempt short,
// operation_aborted when the caller cancelled, the operation's own error
// otherwise); fault classes; retry or give up (retry_policy::decide, then
// the retry gate); admission of each attempt (breaker, rate limiter,
// bulkhead), waiting for admission, and permits handed back when the
// attempt's operation completed; parallel attempts (the first success wins,
// the others are cancelled and awaited); the fallback; the outcome and the
// call_report; the observer's events.
//
// One file of some 800 lines, on purpose: it is one state machine, and every
// event and every seam reads and writes the same per-slot state; split, its
// transitions would have to be read across files. docs/architecture.md is
// its map. What it is given and answers with (call_params, call_action) is in
// call_action.hpp, shared with the initiators.
#pragma once

#include <keel/attempt.hpp>
#include <keel/detail/call_action.hpp>
#include <keel/error.hpp>
#include <keel/fallback.hpp>
#include <keel/fault.hpp>
#include <keel/observer.hpp>
#include <keel/random.hpp>
#include <keel/retry.hpp>
#include <keel/strategy.hpp>
#include <keel/timeout.hpp>

#include <asio/cancellation_type.hpp>
#include <asio/error.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <optional>

namespace keel::detail {

template <class Clock, class Observer = null_observer, class Chain = no_strategies>
class call_machine {
public:
    static constexpr int slots = Chain::max_in_flight;
    using clock_type = Clock;
    using time_point = typename Clock::time_point;
    using attempt_type = basic_attempt<Clock>;
    using params_type = call_params<time_point>;

    call_machine(const params_type& params, const Observer& observer) noexcept
        : params_(params), observer_(&observer) {
        if constexpr (Chain::enabled) {
            if (params_.strategies && params_.strategies->parallel)
                slots_used_ = slots;
        }
    }

    /// Whether events need the time: with no deadline, no observer and no
    /// strategy, the driver may pass time_point() and skip the clock read.
    bool needs_clock() const noexcept {
        return observer_enabled_v<Observer> || params_.exchange != unlimited ||
               params_.connect != unlimited || params_.total != unlimited ||
               params_.fixed_deadline != time_point::max() || has_strategies();
    }

    /// Whether attempt_ended needs the time: after a failure (a retry's
    /// sleep, the deadlines' arithmetic) or for an observer or strategy; a
    /// success that nobody times reads no clock.
    bool needs_clock_at_end(bool failed) const noexcept {
        return (failed && needs_clock()) || (failed && params_.retry) ||
               observer_enabled_v<Observer> || has_strategies();
    }

    // ---- events ----------------------------------------------------------------

    void start(time_point now) {
        call_started_ = now;
        total_deadline_ = std::min(deadline_after(now, params_.total), params_.fixed_deadline);
        if constexpr (observer_enabled_v<Observer>)
            observer_->on(events::call_start{params_.name});
        if constexpr (Chain::enabled) {
            if (params_.strategies && params_.strategies->gate)
                params_.strategies->gate->on_call_start(ticks(now));
        }
        if (!decided_) // the caller may have cancelled already
            launch(now);
    }

    /// The attempt on `slot` completed with `ec`. Returns true when its
    /// values are now the ones the call completes with (the winner's, or the
    /// last attempt's on failure): the driver keeps them.
    bool attempt_ended(int slot, time_point now, std::error_code ec) {
        slot_state& s = slots_[slot];
        if (fallback_ == fallback_state::running)
            return fallback_ended(s, ec, now);
        s.running = false;
        --in_flight_;
        const attempt_feedback& feedback = feedback_[slot];
        // The error the caller sees: ours when we cut the attempt short, the
        // operation's own otherwise.
        if (ec) {
            if (outer_cancel_ != asio::cancellation_type::none)
                ec = asio::error::operation_aborted;
            else if (s.expired == expiry::total)
                ec = params_.total_error;
            else if (s.expired == expiry::exchange)
                ec = params_.exchange_error;
            else if (ec.category() != keel::error_category() && !s.lost)
                // keel's own codes from the operation are keel's deadlines
                // that a wrapper enforced: not what the dependency answered.
                last_operation_error_ = ec;
        }
        if (feedback.is_outcome_unknown())
            outcome_unknown_ = true;
        const fault_class fault = ec ? classify(ec) : fault_class::transient;
        bool timed_out = false;
        const timeout_phase phase = ec ? phase_of(ec, timed_out) : timeout_phase::exchange;
        const attempt_result result =
            !ec ? attempt_result::success
                : (timed_out ? attempt_result::timeout : attempt_result::failure);
        if constexpr (observer_enabled_v<Observer>) {
            observer_->on(
                events::attempt_end{params_.name, s.number, result, ec, fault, now - s.started});
            if (timed_out)
                observer_->on(events::timeout{params_.name, s.number, phase});
        }
        if constexpr (Chain::enabled) {
            if (!s.unstarted)
                hand_back(s, now,
                          attempt_record{s.number, result, fault, ec, now - s.started,
                                         feedback.is_outcome_unknown()});
        }
        last_ended_ = now;
        default_values_ = s.unstarted;

        if (decided_) { // a winner or the end is known: this one was cancelled
            default_values_ = false;
            return false;
        }
        error_ = ec;
        fault_ = fault;
        if (!ec) {
            decide_end(give_up_reason::none, now);
            return true;
        }
        if (outer_cancel_ != asio::cancellation_type::none) {
            decide_end(give_up_reason::none, now);
            return true;
        }
        if (s.expired == expiry::total) {
            decide_end(give_up_reason::deadline, now);
            return true;
        }
        if (in_flight_ > 0 || waiting_ > 0) // a parallel attempt may still succeed
            return true;
        after_failure(ec, fault, feedback, now);
        return true;
    }

    /// The attempt's handler was destroyed without being invoked (its
    /// execution context shut down): hand its permits back.
    void attempt_abandoned(int slot) noexcept {
        slot_state& s = slots_[slot];
        if (!s.running)
            return;
        s.running = false;
        --in_flight_;
        if constexpr (Chain::enabled)
            hand_back(s, last_ended_,
                      attempt_record{s.number,
                                     attempt_result::failure,
                                     fault_class::cancelled,
                                     asio::error::operation_aborted,
                                     {},
                                     false});
    }

    /// The clock reached (or passed) wakeup().
    void timer(time_point now) {
        if (finished_ || decided_)
            return;
        if (sleeping_) {
            if (now < sleep_until_)
                return;
            sleeping_ = false;
            launch(now);
            return;
        }
        for (int i = 0; i < used(); ++i) {
            slot_state& s = slots_[i];
            if (s.running && s.expired == expiry::none && s.exchange_deadline <= now) {
                s.expired =
                    s.exchange_deadline >= total_deadline_ ? expiry::total : expiry::exchange;
                queue_cancel(i, asio::cancellation_type::terminal);
            }
        }
        if constexpr (Chain::enabled) {
            for (int i = 0; i < used(); ++i)
                if (slots_[i].waiting && slots_[i].wait_until <= now)
                    stop_waiting(i, now, false);
            if (hedge_at_ <= now && !decided_) {
                hedge_at_ = time_point::max();
                launch(now);
            }
        }
    }

    /// The admission strategy the slot waited for admitted it (its waiter's
    /// admitted() ran): take the remaining admissions, then start.
    void admission_granted(int slot, time_point now) {
        slot_state& s = slots_[slot];
        s.waiting = false;
        --waiting_;
        s.admitted = static_cast<std::uint8_t>(s.admitted | (1u << s.waiting_on));
        if (decided_) { // the call ended while it waited
            hand_back_unstarted(s, now);
            return;
        }
        if (admit(slot, s.waiting_on + 1, now) == admitted::yes)
            begin_attempt(slot, now);
    }

    /// The caller cancelled (from the handler's executor).
    void cancel(asio::cancellation_type_t type, time_point now) noexcept {
        if (finished_ || outer_cancel_ != asio::cancellation_type::none)
            return;
        outer_cancel_ = type;
        if (fallback_ == fallback_state::running) {
            queue_cancel(0, type); // the fallback runs on slot 0
            return;
        }
        if (decided_)
            return;
        if (in_flight_ == 0) { // asleep between attempts, or not yet started
            sleeping_ = false;
            error_ = asio::error::operation_aborted;
            fault_ = fault_class::cancelled;
            decide_end(give_up_reason::none, now);
            return;
        }
        for (int i = 0; i < used(); ++i)
            if (slots_[i].running)
                queue_cancel(i, type);
    }

    /// The driver has executed the start or cancel action for `slot`.
    void action_done(int slot) noexcept { slots_[slot].busy = false; }

    /// The driver delivers the completion now.
    void completed() {
        complete_pending_ = false;
        finished_ = true;
        if constexpr (observer_enabled_v<Observer>)
            observer_->on(events::call_end{params_.name, outcome(), attempts_started_, error_,
                                           ended_at_ - call_started_});
    }

    // ---- what the driver asks ----------------------------------------------------

    /// The next action, or none. Cancellations come first, then the
    /// completion (once every attempt has completed), then starts.
    call_action next() noexcept {
        for (int i = 0; i < used(); ++i) {
            slot_state& s = slots_[i];
            // A cancel waits for its attempt's start: emitted before the
            // operation connected its slot, it would be lost.
            if (s.cancel != asio::cancellation_type::none && !s.busy && !s.start) {
                const auto type = s.cancel;
                s.cancel = asio::cancellation_type::none;
                if (!s.running)
                    continue; // it ended before we got to it
                s.busy = true;
                return {call_action_kind::cancel_attempt, static_cast<std::uint8_t>(i), type};
            }
        }
        if (complete_pending_ && in_flight_ == 0 && waiting_ == 0) {
            if (fallback_ == fallback_state::none && fallback_applies()) {
                start_fallback();
                return {call_action_kind::run_fallback, 0, asio::cancellation_type::none};
            }
            return {call_action_kind::complete, 0, asio::cancellation_type::none};
        }
        for (int i = 0; i < used(); ++i) {
            slot_state& s = slots_[i];
            if (s.start && !s.busy) {
                s.start = false;
                s.busy = true;
                return {call_action_kind::start_attempt, static_cast<std::uint8_t>(i),
                        asio::cancellation_type::none};
            }
        }
        return {};
    }

    /// Whether next() would return an action.
    bool has_action() const noexcept {
        if (complete_pending_ && in_flight_ == 0 && waiting_ == 0)
            return true;
        for (int i = 0; i < used(); ++i)
            if (const slot_state& s = slots_[i];
                !s.busy && (s.start || (s.cancel != asio::cancellation_type::none && s.running)))
                return true;
        return false;
    }

    /// When timer() wants to run; time_point::max() for never.
    time_point wakeup() const noexcept {
        if (finished_ || decided_)
            return time_point::max();
        if (sleeping_)
            return sleep_until_;
        time_point earliest = hedge_at_;
        for (int i = 0; i < used(); ++i) {
            const slot_state& s = slots_[i];
            if (s.running && s.expired == expiry::none)
                earliest = std::min(earliest, s.exchange_deadline);
            if (s.waiting)
                earliest = std::min(earliest, s.wait_until);
        }
        return earliest;
    }

    bool busy(int slot) const noexcept { return slots_[slot].busy; }
    /// How many slots wait for admission: each holds a reference of the
    /// driver's while its strategy may call its waiter.
    int waiting() const noexcept { return waiting_; }
    /// The waiter object of each slot, given to admission strategies.
    void attach_waiters(admission_waiter* const* waiters) noexcept {
        for (int i = 0; i < slots; ++i)
            waiters_[i] = waiters[i];
    }
    /// How many slots this call uses: all of them with parallel attempts,
    /// else one.
    int slots_used() const noexcept { return used(); }
    /// The call completes with default-constructed values: its last attempt
    /// was cut before it started.
    bool default_values() const noexcept { return default_values_; }
    bool sleeping() const noexcept { return sleeping_; }
    bool finished() const noexcept { return finished_; }
    int in_flight() const noexcept { return in_flight_; }
    const attempt_type& attempt(int slot) const noexcept { return attempts_[slot]; }

    /// The error the call completes with (valid once complete is asked for).
    std::error_code error() const noexcept { return error_; }

    /// The report of the finished call.
    call_report report() const {
        call_report r;
        r.attempts = attempts_started_;
        r.outcome = outcome();
        r.reason = reason_;
        r.error = error_;
        r.fault = error_ ? fault_ : fault_class::transient;
        r.last_operation_error = last_operation_error_;
        r.outcome_unknown = outcome_unknown_;
        r.refusal = refusal_;
        r.retry_after = refusal_retry_after_;
        r.original_error = original_error_;
        r.fallback_error = fallback_error_;
        return r;
    }

    /// What the fallback receives (when next() asked for run_fallback).
    fallback_context fallback_input() const {
        fallback_context c;
        c.error = original_error_;
        c.report = report();
        c.report.outcome = outcome_before_fallback_;
        c.time_left = total_deadline_ == time_point::max()
                          ? std::chrono::nanoseconds::max()
                          : std::chrono::nanoseconds(total_deadline_ - ended_at_);
        return c;
    }

    call_outcome outcome() const noexcept {
        if (fallback_ == fallback_state::answered)
            return call_outcome::fallback;
        if (!error_)
            return attempts_started_ > 1 ? call_outcome::success_after_retry
                                         : call_outcome::success;
        if (attempts_started_ == 0 && fault_ == fault_class::rejected)
            return call_outcome::rejected;
        if (error_ == condition::cancelled)
            return call_outcome::cancelled;
        if (error_ == condition::timeout)
            return call_outcome::timeout;
        return attempts_started_ > 1 ? call_outcome::failure_after_retry : call_outcome::failure;
    }

private:
    enum class expiry : std::uint8_t { none, exchange, total };

    struct slot_state {
        int number = 0;
        time_point started{};
        time_point exchange_deadline = time_point::max();
        expiry expired = expiry::none;
        asio::cancellation_type_t cancel = asio::cancellation_type::none; ///< to emit
        asio::cancellation_type_t cancel_requested = asio::cancellation_type::none;
        std::uint8_t admitted = 0;   ///< which admission strategies hold a permit for it
        bool running = false;        ///< started and not yet ended
        bool start = false;          ///< a start action is pending
        bool busy = false;           ///< the driver executes an action for it outside its lock
        bool lost = false;           ///< cancelled by us because another attempt won
        bool unstarted = false;      ///< cut before it started: already due
        bool waiting = false;        ///< queued by an admission strategy, not admitted yet
        std::uint8_t waiting_on = 0; ///< which admission strategy it waits for
        time_point wait_until = time_point::max(); ///< when the wait runs out
        std::error_code wait_refusal;              ///< the refusal then
    };

    /// The slots in use; a constant where there is one (no parallel seam).
    int used() const noexcept {
        if constexpr (slots == 1)
            return 1;
        else
            return slots_used_;
    }

    static clock_ticks ticks(time_point t) noexcept {
        return std::chrono::duration_cast<clock_ticks>(t.time_since_epoch());
    }

    bool has_strategies() const noexcept {
        if constexpr (Chain::enabled)
            return params_.strategies != nullptr;
        else
            return false;
    }

    int max_attempts() const noexcept {
        return params_.retry ? std::max(params_.retry->max_attempts, 1) : 1;
    }

    static timeout_phase phase_of(const std::error_code& ec, bool& is_timeout) noexcept {
        is_timeout = true;
        if (ec == errc::connect_timeout)
            return timeout_phase::connect;
        if (ec == errc::deadline_exceeded)
            return timeout_phase::total;
        if (ec == errc::exchange_timeout || ec == errc::timeout)
            return timeout_phase::exchange;
        is_timeout = false;
        return timeout_phase::exchange;
    }

    /// Queues `type` for the slot's attempt, unless it was asked for already.
    void queue_cancel(int slot, asio::cancellation_type_t type) noexcept {
        slot_state& s = slots_[slot];
        const auto fresh = type & ~s.cancel_requested;
        s.cancel_requested = s.cancel_requested | fresh;
        s.cancel = s.cancel | fresh;
    }

    /// The end is known: cancel what still runs, complete once it has.
    void decide_end(give_up_reason reason, time_point now) noexcept {
        decided_ = true;
        ended_at_ = now;
        reason_ = reason;
        complete_pending_ = true;
        hedge_at_ = time_point::max();
        for (int i = 0; i < used(); ++i) {
            if (slots_[i].running) {
                slots_[i].lost = true;
                queue_cancel(i, asio::cancellation_type::terminal);
            }
        }
        if constexpr (Chain::enabled) {
            for (int i = 0; i < used(); ++i)
                if (slots_[i].waiting && slots_[i].wait_until != time_point::max())
                    stop_waiting(i, now, true);
        }
    }

    /// Starts the next attempt now, if its admission allows.
    void launch(time_point now) {
        int slot = 0;
        while (slot < used() &&
               (slots_[slot].running || slots_[slot].start || slots_[slot].waiting))
            ++slot;
        if (slot == used())
            return; // every slot busy: no parallel attempt this time
        slot_state& s = slots_[slot];
        s = slot_state{};
        if constexpr (Chain::enabled) {
            if (admit(slot, 0, now) != admitted::yes)
                return;
        }
        begin_attempt(slot, now);
    }

    /// The slot's attempt has every permit: it starts now.
    void begin_attempt(int slot, time_point now) {
        slot_state& s = slots_[slot];
        const int number = attempts_started_ + 1;
        attempts_started_ = number;
        s.number = number;
        s.started = now;
        feedback_[slot].reset();
        const timeout_policy phases{params_.connect, params_.exchange, unlimited};
        attempts_[slot] = attempt_type(
            number, max_attempts(), deadlines_for(phases, now, total_deadline_), &feedback_[slot]);
        s.exchange_deadline = attempts_[slot].exchange_deadline();
        s.running = true;
        ++in_flight_;
        if constexpr (observer_enabled_v<Observer>)
            observer_->on(events::attempt_start{params_.name, number});
        if (s.exchange_deadline != time_point::max() && s.exchange_deadline <= now) {
            // Already due (a total deadline reached while we slept): the
            // attempt ends before it starts, as if cut at once.
            s.expired = s.exchange_deadline >= total_deadline_ ? expiry::total : expiry::exchange;
            s.unstarted = true;
            if constexpr (Chain::enabled)
                hand_back_unstarted(s, now);
            attempt_ended(slot, now, asio::error::operation_aborted);
            return;
        }
        s.start = true;
        if constexpr (Chain::enabled)
            plan_hedge(number, now);
    }

    /// A failed attempt and nothing else in flight: retry or give up.
    void after_failure(std::error_code ec, fault_class fault, const attempt_feedback& feedback,
                       time_point now) {
        if (!params_.retry) {
            decide_end(give_up_reason::attempts_exhausted, now);
            return;
        }
        failed_attempt failed;
        failed.number = attempts_started_;
        failed.error = ec;
        failed.fault = fault;
        failed.retry_after = feedback.advised_delay();
        failed.retry_forbidden = feedback.retry_forbidden();
        failed.previous_delay = previous_delay_;
        if (total_deadline_ != time_point::max())
            failed.time_left = std::chrono::nanoseconds(total_deadline_ - now);
        if (!jitter_)
            jitter_.emplace(params_.jitter ? params_.jitter->next_stream() : random_source());
        const retry_decision decision = params_.retry->decide(failed, *jitter_);
        if (!decision.retry) {
            decide_end(decision.reason, now);
            return;
        }
        if (!gate_allows(now))
            return;
        if constexpr (observer_enabled_v<Observer>)
            observer_->on(events::retry_scheduled{params_.name, attempts_started_ + 1,
                                                  decision.delay, fault, decision.server_advised});
        previous_delay_ = decision.delay;
        if (decision.delay <= std::chrono::nanoseconds(0)) {
            launch(now);
            return;
        }
        sleeping_ = true;
        sleep_until_ = now + decision.delay;
    }

    /// Asks the retry gate about the next attempt; a refusal ends the call.
    bool gate_allows([[maybe_unused]] time_point now) {
        if constexpr (Chain::enabled) {
            if (params_.strategies && params_.strategies->gate) {
                const admission a =
                    params_.strategies->gate->may_retry(ticks(now), attempts_started_ + 1);
                if (!a.admitted) {
                    refusal_ = a.refusal;
                    refusal_retry_after_ = a.retry_after;
                    if (in_flight_ == 0)
                        decide_end(give_up_reason::rejected, now);
                    return false;
                }
            }
        }
        return true;
    }

    // ---- the fallback, around the whole call ----------------------------------------

    /// The call failed with a class the fallback answers, the caller did not
    /// cancel, and there is time left.
    bool fallback_applies() const noexcept {
        return !params_.fallback_on.empty() && error_ && params_.fallback_on.contains(fault_) &&
               outer_cancel_ == asio::cancellation_type::none && ended_at_ < total_deadline_;
    }

    void start_fallback() noexcept {
        fallback_ = fallback_state::running;
        original_error_ = error_;
        outcome_before_fallback_ = outcome();
        complete_pending_ = false;
        slot_state& s = slots_[0];
        s = slot_state{};
        s.running = true;
        s.busy = true;
        ++in_flight_;
    }

    /// The fallback completed: its values are the call's when it answered.
    bool fallback_ended(slot_state& s, std::error_code ec, time_point now) noexcept {
        s.running = false;
        ended_at_ = now; // the call's duration includes its fallback
        --in_flight_;
        complete_pending_ = true;
        if (ec) {
            fallback_ = fallback_state::failed;
            fallback_error_ = ec;
            return false;
        }
        fallback_ = fallback_state::answered;
        error_ = {};
        default_values_ = false;
        return true;
    }

    // ---- strategies (compiled only with a chain) ----------------------------------

    admission_strategy* admission_at(int i) const noexcept {
        const strategy_chain& c = *params_.strategies;
        return i == 0 ? c.breaker.get() : i == 1 ? c.rate_limiter.get() : c.bulkhead.get();
    }

    enum class admitted : std::uint8_t { yes, no, waiting };

    /// Breaker, then rate limiter, then bulkhead, from strategy `from` on. A
    /// refusal hands back the permits already taken and ends the call or its
    /// retries; a wait leaves the slot waiting for admission_granted().
    admitted admit(int slot, int from, time_point now) {
        slot_state& s = slots_[slot];
        if (!params_.strategies)
            return admitted::yes;
        for (int i = from; i < 3; ++i) {
            admission_strategy* strategy = admission_at(i);
            if (!strategy)
                continue;
            const admission a = strategy->admit(ticks(now), *waiters_[slot]);
            if (a.admitted) {
                s.admitted = static_cast<std::uint8_t>(s.admitted | (1u << i));
                continue;
            }
            if (a.wait) {
                s.waiting = true;
                s.waiting_on = static_cast<std::uint8_t>(i);
                s.wait_refusal = a.refusal;
                s.wait_until = std::min(deadline_after(now, *a.wait), total_deadline_);
                ++waiting_;
                return admitted::waiting;
            }
            refuse(s, a.refusal, a.retry_after, now);
            return admitted::no;
        }
        return admitted::yes;
    }

    /// The slot's attempt will not start: hand back its permits; a refused
    /// first attempt ends the call as rejected, a refused retry ends it with
    /// the last attempt's error (a refused hedge just does not run).
    void refuse(slot_state& s, std::error_code why, std::optional<std::chrono::nanoseconds> after,
                time_point now) {
        refusal_ = why;
        refusal_retry_after_ = after;
        hand_back_unstarted(s, now);
        if (decided_)
            return;
        if (attempts_started_ == 0) {
            error_ = refusal_;
            fault_ = fault_class::rejected;
            decide_end(give_up_reason::rejected, now);
        } else if (in_flight_ == 0 && waiting_ == 0) {
            decide_end(give_up_reason::rejected, now);
        }
    }

    /// A waiting slot whose wait ran out, or whose call ended: withdraw it.
    void stop_waiting(int slot, time_point now, bool call_over) {
        slot_state& s = slots_[slot];
        if (!admission_at(s.waiting_on)->withdraw(*waiters_[slot])) {
            s.wait_until = time_point::max(); // admitted meanwhile: the grant is on its way
            return;
        }
        s.waiting = false;
        --waiting_;
        if (call_over) {
            hand_back_unstarted(s, now);
            return;
        }
        if (s.wait_until >= total_deadline_) { // the total deadline cut the wait
            hand_back_unstarted(s, now);
            if (attempts_started_ == 0) {
                error_ = params_.total_error;
                fault_ = fault_class::timeout;
            }
            if (!decided_ && in_flight_ == 0 && waiting_ == 0)
                decide_end(give_up_reason::deadline, now);
            return;
        }
        refuse(s, s.wait_refusal, std::nullopt, now);
    }

    void hand_back_unstarted(slot_state& s, time_point now) noexcept {
        for (int i = 0; i < 3; ++i)
            if (s.admitted & (1u << i))
                admission_at(i)->release(ticks(now), nullptr);
        s.admitted = 0;
    }

    void hand_back(slot_state& s, time_point now, const attempt_record& record) noexcept {
        if (!params_.strategies)
            return;
        for (int i = 0; i < 3; ++i)
            if (s.admitted & (1u << i))
                admission_at(i)->release(ticks(now), &record);
        s.admitted = 0;
        if (params_.strategies->listener)
            params_.strategies->listener->on_attempt_end(ticks(now), record);
    }

    void plan_hedge(int number, time_point now) {
        hedge_at_ = time_point::max();
        if (!params_.strategies || !params_.strategies->parallel)
            return;
        const parallel_attempts& p = *params_.strategies->parallel;
        if (number >= max_attempts() || in_flight_ >= std::min(p.max_in_flight(), slots))
            return;
        if (const auto delay = p.delay_before(number + 1)) {
            const time_point at = deadline_after(now, *delay);
            if (at < total_deadline_)
                hedge_at_ = at;
        }
    }

    // ---- state --------------------------------------------------------------------

    params_type params_;
    const Observer* observer_;
    std::array<slot_state, slots> slots_{};
    std::array<attempt_type, slots> attempts_{};
    std::array<attempt_feedback, slots> feedback_{};

    time_point call_started_{};
    time_point last_ended_{};
    time_point ended_at_{}; ///< when the call's end was decided
    time_point total_deadline_ = time_point::max();
    time_point sleep_until_ = time_point::max();
    time_point hedge_at_ = time_point::max();
    std::chrono::nanoseconds previous_delay_{0};
    std::optional<random_source> jitter_;

    std::error_code error_;
    fault_class fault_ = fault_class::permanent;
    std::error_code last_operation_error_;
    std::error_code refusal_;
    std::optional<std::chrono::nanoseconds> refusal_retry_after_;
    give_up_reason reason_ = give_up_reason::none;
    asio::cancellation_type_t outer_cancel_ = asio::cancellation_type::none;
    int slots_used_ = 1;
    int waiting_ = 0;
    std::array<admission_waiter*, slots> waiters_{};
    int attempts_started_ = 0;
    int in_flight_ = 0;
    bool sleeping_ = false;
    bool decided_ = false;
    bool complete_pending_ = false;
    bool finished_ = false;
    bool outcome_unknown_ = false;
    bool default_values_ = false;
    enum class fallback_state : std::uint8_t { none, running, answered, failed };
    fallback_state fallback_ = fallback_state::none;
    call_outcome outcome_before_fallback_ = call_outcome::failure;
    std::error_code original_error_;
    std::error_code fallback_error_;
};

} // namespace keel::detail
