// How each event moves the state of call_machine (call_machine.hpp, which
// declares these members, documents them and includes this file at its end):
// the call starts, an attempt ends or is abandoned, the clock reaches the
// wake-up time, an admission is granted, the caller cancels, the completion is
// delivered; and the transitions they share: the end decided, an attempt
// launched and begun (its deadlines, the "already due" cut), retry or give up
// after a failure.
//
// Declared inline: as when they were written in the class, so the compiler
// weighs inlining them into the driver the same way.
#pragma once

#include <keel/detail/call_machine.hpp>

namespace keel::detail {

// ---- events -------------------------------------------------------------------------

template <class Clock, class Observer, class Chain>
inline void call_machine<Clock, Observer, Chain>::start(time_point now) {
    call_started_ = now;
    total_deadline_ = std::min(deadline_after(now, params_.total), params_.fixed_deadline);
    if constexpr (observer_enabled_v<Observer>)
        observer_->on(events::call_start{params_.name});
    // Every engine asks the chain's retry gate first: the plain and single
    // ones run with a quiet gate (detail::quiet_gate), the others with any.
    if (params_.strategies && params_.strategies->gate) {
        start_gated(now);
        return;
    }
    launch_first(now);
}

template <class Clock, class Observer, class Chain>
void call_machine<Clock, Observer, Chain>::start_gated(time_point now) {
    admit_call(now);
    launch_first(now);
}

template <class Clock, class Observer, class Chain>
inline void call_machine<Clock, Observer, Chain>::launch_first(time_point now) {
    if (!decided_) { // the caller (or the gate) may have ended it already
        launch(now); // takes the breaker's permit, if it admitted the attempt first
        return;
    }
    if constexpr (Chain::enabled) {
        if (first_admitted_) { // not launched: the breaker's permit goes back
            first_admitted_ = false;
            params_.strategies->breaker->release_at(lazy_time(ticks(now)), nullptr, first_ticket_);
        }
    }
}

template <class Clock, class Observer, class Chain>
inline bool call_machine<Clock, Observer, Chain>::attempt_ended(int slot, time_point now,
                                                                std::error_code ec,
                                                                bool clock_read) {
    slot = pinned(slot);
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
            hand_back(s, clock_read ? lazy_time(ticks(now)) : lazy_time(&read_clock),
                      attempt_record{s.number, result, fault, ec,
                                     clock_read ? now - s.started : std::chrono::nanoseconds(0),
                                     feedback.is_outcome_unknown(), feedback.advised_delay()});
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
        if constexpr (slots > 1)
            hedges_.winner = s.number;
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
    if constexpr (slots > 1) {
        if (parallel_failure(fault, now))
            return true;
    }
    if (in_flight_ > 0 || waiting_ > 0) // a parallel attempt may still succeed
        return true;
    after_failure(ec, fault, feedback, now);
    return true;
}

template <class Clock, class Observer, class Chain>
inline void call_machine<Clock, Observer, Chain>::attempt_abandoned(int slot) noexcept {
    slot = pinned(slot);
    slot_state& s = slots_[slot];
    if (!s.running)
        return;
    s.running = false;
    --in_flight_;
    if constexpr (Chain::enabled)
        hand_back(s, ticks(last_ended_),
                  attempt_record{s.number,
                                 attempt_result::failure,
                                 fault_class::cancelled,
                                 asio::error::operation_aborted,
                                 {},
                                 false,
                                 std::nullopt});
}

template <class Clock, class Observer, class Chain>
inline void call_machine<Clock, Observer, Chain>::timer(time_point now) {
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
            s.expired = s.exchange_deadline >= total_deadline_ ? expiry::total : expiry::exchange;
            queue_cancel(i, asio::cancellation_type::terminal);
        }
    }
    if constexpr (Chain::enabled) {
        for (int i = 0; i < used(); ++i) {
            if (!slots_[i].waiting || slots_[i].wait_until > now)
                continue;
            if (slots_[i].timed_wait)
                reservation_due(i, now);
            else
                stop_waiting(i, now, false);
        }
        if (hedge_at_ <= now && !decided_) {
            hedge_at_ = time_point::max();
            // A hedge is a retry to the budget: refused, it does not start
            // and the attempts in flight go on.
            if (hedge_allowed(now))
                launch(now);
            else if constexpr (slots > 1)
                hedges_.suppressed += decided_ ? 0 : 1;
        }
    }
}

template <class Clock, class Observer, class Chain>
inline void call_machine<Clock, Observer, Chain>::admission_granted(int slot, time_point now) {
    slot = pinned(slot);
    slot_state& s = slots_[slot];
    s.waiting = false;
    --waiting_;
    s.admitted = static_cast<std::uint8_t>(s.admitted | (1u << s.waiting_on));
    s.tickets[s.waiting_on] = 0; // a strategy that makes attempts wait keeps no ticket
    if (decided_) {              // the call ended while it waited
        wait_over(s, now, ended_while_waiting());
        hand_back_unstarted(s, now);
        return;
    }
    wait_over(s, now, {});
    if (admit(slot, s.waiting_on + 1, now) == admitted::yes)
        begin_attempt(slot, now);
}

template <class Clock, class Observer, class Chain>
inline void call_machine<Clock, Observer, Chain>::cancel(asio::cancellation_type_t type,
                                                         time_point now) noexcept {
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

template <class Clock, class Observer, class Chain>
inline void call_machine<Clock, Observer, Chain>::completed() {
    complete_pending_ = false;
    finished_ = true;
    if constexpr (observer_enabled_v<Observer>) {
        // An observer written before this event existed need not take it.
        if constexpr (slots > 1 && requires(const events::hedges& e) { observer_->on(e); }) {
            if (hedged()) {
                const bool won = !error_ && hedges_.winner > 1;
                observer_->on(events::hedges{params_.name, std::max(attempts_started_ - 1, 0), won,
                                             hedges_suppressed()});
            }
        }
        observer_->on(events::call_end{params_.name, outcome(), attempts_started_, error_,
                                       ended_at_ - call_started_, refusal_, fallback_trigger_});
    }
}

// ---- the transitions the events share -----------------------------------------------

template <class Clock, class Observer, class Chain>
inline void call_machine<Clock, Observer, Chain>::decide_end(give_up_reason reason,
                                                             time_point now) noexcept {
    decided_ = true;
    ended_at_ = now;
    reason_ = reason;
    complete_pending_ = true;
    hedge_at_ = time_point::max();
    if constexpr (Chain::enabled) {
        if (gate_hears_ & hears_call_ends) [[unlikely]]
            gate_call_end(now);
    }
    for (int i = 0; i < used(); ++i) {
        if (slots_[i].running) {
            slots_[i].lost = true;
            queue_cancel(i, asio::cancellation_type::terminal);
        }
    }
    if constexpr (Chain::enabled) {
        if (waiting_ > 0) [[unlikely]]
            stop_waiting_all(now);
    }
}

template <class Clock, class Observer, class Chain>
void call_machine<Clock, Observer, Chain>::stop_waiting_all(time_point now) {
    for (int i = 0; i < used(); ++i)
        if (slots_[i].waiting && slots_[i].wait_until != time_point::max())
            stop_waiting(i, now, true);
}

template <class Clock, class Observer, class Chain>
inline void call_machine<Clock, Observer, Chain>::launch(time_point now) {
    int slot = 0;
    const int used_slots = used();
    while (slot < used_slots &&
           (slots_[slot].running || slots_[slot].start || slots_[slot].waiting))
        ++slot;
    if (slot == used_slots) {
        if (slot == slots)
            return; // every slot busy: no parallel attempt this time
        open_slot(slot);
    }
    slot_state& s = slots_[slot];
    static_cast<attempt_slot&>(s) = attempt_slot{};
    if constexpr (Chain::enabled) {
        if (first_admitted_) { // the breaker (strategy 0) admitted it before the call was built
            first_admitted_ = false;
            s.admitted = 1u;
            s.tickets[0] = first_ticket_;
            // Alone in the chain, the breaker was all there was to ask.
            if (!single && admit(slot, 1, now) != admitted::yes)
                return;
        } else if (admit(slot, 0, now) != admitted::yes) {
            return;
        }
    }
    begin_attempt(slot, now);
}

template <class Clock, class Observer, class Chain>
void call_machine<Clock, Observer, Chain>::open_slot([[maybe_unused]] int slot) noexcept {
    if constexpr (slots > 1) {
        slots_.open(slot);
        attempts_.open(slot);
        feedback_.open(slot);
        slots_[slot].waiter = more_waiters_.open(more_waiters_.driver, slot);
        slots_used_ = slot + 1;
    }
}

template <class Clock, class Observer, class Chain>
inline void call_machine<Clock, Observer, Chain>::begin_attempt(int slot, time_point now) {
    slot = pinned(slot);
    slot_state& s = slots_[slot];
    const int number = attempts_started_ + 1;
    attempts_started_ = number;
    s.number = number;
    s.started = now;
    feedback_[slot].reset();
    const timeout_policy phases{params_.connect, params_.exchange, unlimited};
    attempts_[slot] = attempt_type(number, max_attempts(),
                                   deadlines_for(phases, now, total_deadline_), &feedback_[slot]);
    s.exchange_deadline = attempts_[slot].exchange_deadline();
    s.running = true;
    ++in_flight_;
    if constexpr (observer_enabled_v<Observer>)
        observer_->on(events::attempt_start{params_.name, number});
    if (s.exchange_deadline != time_point::max() && s.exchange_deadline <= now) [[unlikely]] {
        end_unstarted(slot, now);
        return;
    }
    s.start = true;
    if constexpr (Chain::enabled)
        plan_hedge(number, now);
}

template <class Clock, class Observer, class Chain>
void call_machine<Clock, Observer, Chain>::end_unstarted(int slot, time_point now) {
    // Already due (a total deadline reached while we slept): the attempt
    // ends before it starts, as if cut at once.
    slot_state& s = slots_[slot];
    s.expired = s.exchange_deadline >= total_deadline_ ? expiry::total : expiry::exchange;
    s.unstarted = true;
    if constexpr (Chain::enabled)
        hand_back_unstarted(s, now);
    attempt_ended(slot, now, asio::error::operation_aborted);
}

template <class Clock, class Observer, class Chain>
inline void call_machine<Clock, Observer, Chain>::after_failure(std::error_code ec,
                                                                fault_class fault,
                                                                const attempt_feedback& feedback,
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
        observer_->on(events::retry_scheduled{params_.name, attempts_started_ + 1, decision.delay,
                                              fault, decision.server_advised});
    previous_delay_ = decision.delay;
    if (decision.delay <= std::chrono::nanoseconds(0)) {
        launch(now);
        return;
    }
    sleeping_ = true;
    sleep_until_ = now + decision.delay;
}

} // namespace keel::detail
