// Over 400 lines: the member definitions of every seam, kept beside each other.
// The fallback and the strategy seams of call_machine (call_machine.hpp,
// which declares these members, documents them and includes this file at its
// end): the retry gate, admission of each attempt (breaker, rate limiter,
// bulkhead), refusal, waiting for admission, permits handed back, planning the
// next parallel attempt.
//
// Declared inline: as when they were written in the class, so the compiler
// weighs inlining them into the driver the same way.
#pragma once

#include <keel/detail/call_machine.hpp>

#include <bit>

namespace keel::detail {

// ---- the fallback, around the whole call --------------------------------------------

template <class Clock, class Observer, class Chain>
inline bool call_machine<Clock, Observer, Chain>::fallback_applies() const noexcept {
    return !params_.fallback_on.empty() && error_ && params_.fallback_on.contains(fault_) &&
           outer_cancel_ == asio::cancellation_type::none && ended_at_ < total_deadline_;
}

template <class Clock, class Observer, class Chain>
inline void call_machine<Clock, Observer, Chain>::start_fallback() noexcept {
    fallback_ = fallback_state::running;
    original_error_ = error_;
    fallback_trigger_ = fault_;
    outcome_before_fallback_ = outcome();
    complete_pending_ = false;
    slot_state& s = slots_[0];
    static_cast<attempt_slot&>(s) = attempt_slot{};
    s.running = true;
    s.busy = true;
    ++in_flight_;
}

template <class Clock, class Observer, class Chain>
inline bool call_machine<Clock, Observer, Chain>::fallback_ended(slot_state& s, std::error_code ec,
                                                                 time_point now) noexcept {
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

// ---- strategies (compiled only with a chain) ----------------------------------------

template <class Clock, class Observer, class Chain>
inline bool call_machine<Clock, Observer, Chain>::gate_allows(time_point now) {
    if (params_.strategies && params_.strategies->gate) {
        const admission a = params_.strategies->gate->may_retry(ticks(now), attempts_started_ + 1);
        if (!a.admitted) {
            refusal_ = a.refusal;
            refusal_retry_after_ = a.retry_after;
            if (in_flight_ == 0)
                decide_end(params_.strategies->gate->refusal_reason(), now);
            return false;
        }
    }
    return true;
}

template <class Clock, class Observer, class Chain>
inline bool call_machine<Clock, Observer, Chain>::hedge_allowed(time_point now) {
    if (in_flight_ == 0 && waiting_ == 0) // nothing else may win: as a retry
        return gate_allows(now);
    // Refused, the hedge does not start and the call goes on: no refusal is
    // recorded against a call that may still succeed.
    if (params_.strategies && params_.strategies->gate)
        return params_.strategies->gate->may_retry(ticks(now), attempts_started_ + 1).admitted;
    return true;
}

template <class Clock, class Observer, class Chain>
inline void call_machine<Clock, Observer, Chain>::admit_call(time_point now) noexcept {
    const retry_gate& gate = *params_.strategies->gate;
    gate_hears_ = static_cast<std::uint8_t>((gate.hears_attempts() ? hears_attempts : 0) |
                                            (gate.hears_call_ends() ? hears_call_ends : 0));
    const admission a = params_.strategies->gate->admit_call(ticks(now));
    if (a.admitted) [[likely]]
        return;
    // Refused before any attempt (adaptive throttling): as a first attempt
    // an admission strategy refused.
    refusal_ = a.refusal;
    refusal_retry_after_ = a.retry_after;
    error_ = a.refusal;
    fault_ = fault_class::rejected;
    decide_end(give_up_reason::rejected, now);
}

template <class Clock, class Observer, class Chain>
void call_machine<Clock, Observer, Chain>::gate_attempt_end(const attempt_record& record) noexcept {
    params_.strategies->gate->on_attempt_end(
        record, params_.retry && params_.retry->retry_on.contains(record.fault));
}

template <class Clock, class Observer, class Chain>
void call_machine<Clock, Observer, Chain>::gate_call_end(time_point now) noexcept {
    params_.strategies->gate->on_call_end(ticks(now), attempts_started_, error_, fault_);
}

template <class Clock, class Observer, class Chain>
inline bool call_machine<Clock, Observer, Chain>::strategies_time_attempts() const noexcept {
    if constexpr (single) {
        return only_.strategy->needs_durations();
    } else if constexpr (Chain::enabled) {
        const strategy_chain* c = params_.strategies;
        if (!c)
            return false;
        if constexpr (slots > 1) {
            if (c->parallel && c->parallel->needs_durations())
                return true;
            // Whether a hedge kept back by min_remaining was due before
            // the end is a comparison with the end's time.
            if (hedges_.suppressed_due != time_point::max())
                return true;
        }
        return c->listener || (gate_hears_ & hears_call_ends) ||
               (c->breaker && c->breaker->needs_durations()) ||
               (c->rate_limiter && c->rate_limiter->needs_durations()) ||
               (c->bulkhead && c->bulkhead->needs_durations());
    } else {
        return false;
    }
}

template <class Clock, class Observer, class Chain>
inline admission_strategy*
call_machine<Clock, Observer, Chain>::admission_at(int i) const noexcept {
    if constexpr (single)
        return only_.strategy; // the only stage holding a permit or a waiter
    const strategy_chain& c = *params_.strategies;
    return i == 0 ? c.breaker.get() : i == 1 ? c.rate_limiter.get() : c.bulkhead.get();
}

template <class Clock, class Observer, class Chain>
inline auto call_machine<Clock, Observer, Chain>::admit(int slot, int from, time_point now)
    -> admitted {
    slot = pinned(slot);
    slot_state& s = slots_[slot];
    if constexpr (single) {
        // Asked already (the breaker first, or the one it waited for); from
        // is a constant 0 where launch() asks.
        if (from != 0 && from > only_.stage)
            return admitted::yes;
        const admission a = only_.strategy->admit_at(lazy_time(ticks(now)), *s.waiter);
        if (!a.admitted)
            return wait_or_refuse(s, only_.stage, a, now);
        s.admitted = static_cast<std::uint8_t>(1u << only_.stage);
        s.tickets[only_.stage] = a.ticket;
        return admitted::yes;
    }
    if (!has_strategies())
        return admitted::yes;
    const strategy_chain& c = *params_.strategies;
    admission_strategy* const stages[3] = {c.breaker.get(), c.rate_limiter.get(), c.bulkhead.get()};
    // Inlined where `from` is a constant: unrolled, an absent strategy is
    // one test.
#pragma GCC unroll 3
    for (int i = from; i < 3; ++i) {
        if (!stages[i])
            continue;
        const admission a = stages[i]->admit_at(lazy_time(ticks(now)), *s.waiter);
        if (a.admitted) {
            s.admitted = static_cast<std::uint8_t>(s.admitted | (1u << i));
            s.tickets[i] = a.ticket;
            continue;
        }
        return wait_or_refuse(s, i, a, now);
    }
    return admitted::yes;
}

template <class Clock, class Observer, class Chain>
auto call_machine<Clock, Observer, Chain>::wait_or_refuse(slot_state& s, int stage,
                                                          const admission& a, time_point now)
    -> admitted {
    if (a.wait && a.reserved) {
        // The reservation is a permit from now on: refused or cut, the
        // attempt hands it back like the others it holds.
        s.admitted = static_cast<std::uint8_t>(s.admitted | (1u << stage));
        s.tickets[stage] = a.ticket;
        const time_point due = deadline_after(now, *a.wait);
        if (due >= total_deadline_) { // it could not start in time: never wait first
            refuse(s, a.refusal, a.retry_after, now);
            return admitted::no;
        }
        begin_wait(s, stage, a, due, now);
        s.timed_wait = true;
        ++timed_waiting_;
        return admitted::waiting;
    }
    if (a.wait) {
        begin_wait(s, stage, a, std::min(deadline_after(now, *a.wait), total_deadline_), now);
        return admitted::waiting;
    }
    refuse(s, a.refusal, a.retry_after, now);
    return admitted::no;
}

template <class Clock, class Observer, class Chain>
inline void
call_machine<Clock, Observer, Chain>::refuse(slot_state& s, std::error_code why,
                                             std::optional<std::chrono::nanoseconds> after,
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

template <class Clock, class Observer, class Chain>
inline void
call_machine<Clock, Observer, Chain>::begin_wait(slot_state& s, int stage, const admission& a,
                                                 time_point until,
                                                 [[maybe_unused]] time_point now) noexcept {
    s.waiting = true;
    s.waiting_on = static_cast<std::uint8_t>(stage);
    s.wait_refusal = a.refusal;
    s.wait_until = until;
    if constexpr (observer_enabled_v<Observer>)
        s.wait_started = now;
    ++waiting_;
}

template <class Clock, class Observer, class Chain>
inline void
call_machine<Clock, Observer, Chain>::wait_over([[maybe_unused]] const slot_state& s,
                                                [[maybe_unused]] time_point now,
                                                [[maybe_unused]] std::error_code refusal) const {
    if constexpr (observer_enabled_v<Observer>) {
        // Observers that list their events one by one may not hear this one.
        if constexpr (requires(const Observer& o, const events::admission_wait& e) { o.on(e); })
            observer_->on(events::admission_wait{params_.name, attempts_started_ + 1,
                                                 static_cast<admission_stage>(s.waiting_on),
                                                 now - s.wait_started, refusal});
    }
}

template <class Clock, class Observer, class Chain>
inline std::error_code call_machine<Clock, Observer, Chain>::ended_while_waiting() const noexcept {
    // The call's own error (a cancel, its deadline, the last attempt's);
    // none when a parallel attempt won: this one is abandoned.
    return error_ ? error_ : std::error_code(asio::error::operation_aborted);
}

template <class Clock, class Observer, class Chain>
inline void call_machine<Clock, Observer, Chain>::reservation_due(int slot, time_point now) {
    slot_state& s = slots_[slot];
    if (outer_cancel_ != asio::cancellation_type::none) { // cancelled beside a running attempt
        stop_waiting(slot, now, true);
        return;
    }
    s.waiting = false;
    s.timed_wait = false;
    --waiting_;
    --timed_waiting_;
    wait_over(s, now, {});
    if (admit(slot, s.waiting_on + 1, now) == admitted::yes)
        begin_attempt(slot, now);
}

template <class Clock, class Observer, class Chain>
inline void call_machine<Clock, Observer, Chain>::stop_waiting(int slot, time_point now,
                                                               bool call_over) {
    slot_state& s = slots_[slot];
    if (s.timed_wait) { // nothing queued: the reservation goes back with the permits
        s.timed_wait = false;
        --timed_waiting_;
    } else if (!admission_at(s.waiting_on)->withdraw(*s.waiter)) {
        s.wait_until = time_point::max(); // admitted meanwhile: the grant is on its way
        return;
    }
    s.waiting = false;
    --waiting_;
    if (call_over) {
        wait_over(s, now, ended_while_waiting());
        hand_back_unstarted(s, now);
        return;
    }
    if (s.wait_until >= total_deadline_) { // the total deadline cut the wait
        wait_over(s, now, params_.total_error);
        hand_back_unstarted(s, now);
        if (attempts_started_ == 0) {
            error_ = params_.total_error;
            fault_ = fault_class::timeout;
        }
        if (!decided_ && in_flight_ == 0 && waiting_ == 0)
            decide_end(give_up_reason::deadline, now);
        return;
    }
    wait_over(s, now, s.wait_refusal);
    refuse(s, s.wait_refusal, std::nullopt, now);
}

template <class Clock, class Observer, class Chain>
inline void call_machine<Clock, Observer, Chain>::hand_back_unstarted(slot_state& s,
                                                                      time_point now) noexcept {
    for (int i = 0; i < 3; ++i)
        if (s.admitted & (1u << i))
            admission_at(i)->release_at(lazy_time(ticks(now)), nullptr, s.tickets[i]);
    s.admitted = 0;
}

template <class Clock, class Observer, class Chain>
inline void call_machine<Clock, Observer, Chain>::hand_back(slot_state& s, const lazy_time& now,
                                                            const attempt_record& record) noexcept {
    if constexpr (single) {
        if (s.admitted != 0) // the one strategy's permit
            only_.strategy->release_at(now, &record, s.tickets[only_.stage]);
        s.admitted = 0;
        return;
    }
    if (!has_strategies())
        return;
    // Only the strategies that admitted it (usually one: the breaker).
    for (unsigned held = s.admitted; held != 0; held &= held - 1) {
        const int i = std::countr_zero(held);
        admission_at(i)->release_at(now, &record, s.tickets[i]);
    }
    s.admitted = 0;
    if (gate_hears_ & hears_attempts) [[unlikely]]
        gate_attempt_end(record);
    if (params_.strategies->listener) // a listener makes the driver read the clock
        params_.strategies->listener->on_attempt_end(now.get(), record);
    if constexpr (slots > 1) {
        // A hedge's delay learns from successful attempts' durations.
        if (parallel_attempts* p = params_.strategies->parallel.get();
            p && record.result == attempt_result::success && p->needs_durations())
            p->attempt_succeeded(record.duration);
    }
}

template <class Clock, class Observer, class Chain>
inline void call_machine<Clock, Observer, Chain>::plan_hedge([[maybe_unused]] int number,
                                                             [[maybe_unused]] time_point now) {
    hedge_at_ = time_point::max();
    if constexpr (slots > 1) { // one slot (serial_strategies): nothing runs beside an attempt
        if (hedges_.suppressed_due <= now) // the last one kept back was due
            ++hedges_.suppressed;
        hedges_.suppressed_due = time_point::max();
        if (!params_.strategies || !params_.strategies->parallel)
            return;
        const parallel_attempts& p = *params_.strategies->parallel;
        if (number >= max_attempts() || in_flight_ >= std::min(p.max_in_flight(), slots))
            return;
        if (const auto delay = p.delay_before(number + 1)) {
            const time_point at = deadline_after(now, *delay);
            if (leaves_time_for_attempt(at))
                hedge_at_ = at;
            else if (at < total_deadline_) // due before the end, kept back by min_remaining
                hedges_.suppressed_due = at;
        }
    }
}

template <class Clock, class Observer, class Chain>
inline bool
call_machine<Clock, Observer, Chain>::leaves_time_for_attempt(time_point at) const noexcept {
    if (at >= total_deadline_)
        return false;
    if constexpr (slots > 1) {
        if (total_deadline_ != time_point::max() && params_.strategies &&
            params_.strategies->parallel)
            return total_deadline_ - at >= params_.strategies->parallel->min_remaining();
    }
    return true;
}

template <class Clock, class Observer, class Chain>
inline bool call_machine<Clock, Observer, Chain>::parallel_failure(fault_class fault,
                                                                   time_point now) {
    if constexpr (slots > 1) {
        if (!params_.strategies || !params_.strategies->parallel)
            return false;
        switch (params_.strategies->parallel->after_failure(fault)) {
        case parallel_attempts::on_failure::wait_for_others:
            return false;
        case parallel_attempts::on_failure::end_call: // the others are cancelled
            decide_end(give_up_reason::not_retryable, now);
            return true;
        case parallel_attempts::on_failure::start_next:
            if (attempts_started_ < max_attempts()) {
                if (leaves_time_for_attempt(now) && hedge_allowed(now)) {
                    hedge_at_ = time_point::max();
                    launch(now);
                    return true;
                }
                if (!decided_) // due now and kept back (the budget or the deadline)
                    ++hedges_.suppressed;
            }
            if (decided_) // the gate refused with nothing left in flight
                return true;
            return in_flight_ > 0 || waiting_ > 0; // the others may still win
        }
    }
    (void)fault;
    (void)now;
    return false;
}

} // namespace keel::detail
