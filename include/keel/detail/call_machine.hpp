// Over 400 lines: one class declaring every member beside the state they share.
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
// Its files, by concern. Every member is declared in the class below, beside
// the per-slot state they all read and write, so the class is the map of the
// transitions (docs/architecture.md draws it); the events and the seams are
// defined after it, inline as if written in the class:
//   call_action.hpp              what it is given (call_params) and answers
//                                (call_action): shared with the initiators
//   call_machine.hpp             this class: its state and what the driver
//                                asks (the next action, the wake-up time, the
//                                outcome, the report)
//   call_machine_events.hpp      how each event moves the state: deadlines,
//                                the error the caller sees, retry or give up,
//                                launching attempts, the end
//   call_machine_strategies.hpp  the fallback, and the strategy seams: the
//                                retry gate, admission, waiting, permits
//                                handed back, planning parallel attempts
#pragma once

#include <keel/attempt.hpp>
#include <keel/detail/call_action.hpp>
#include <keel/detail/slot_array.hpp>
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
#include <type_traits>

namespace keel::detail {

template <class Clock, class Observer = null_observer, class Chain = no_strategies>
class call_machine {
public:
    static constexpr int slots = Chain::max_in_flight;
    /// The engine of a chain with one admission strategy and no other seam.
    static constexpr bool single = std::is_same_v<Chain, single_admission>;
    using clock_type = Clock;
    using time_point = typename Clock::time_point;
    using attempt_type = basic_attempt<Clock>;
    using params_type = call_params<time_point>;

    call_machine(const params_type& params, const Observer& observer) noexcept
        : params_(params), observer_(&observer) {
        if constexpr (single)
            only_ = only_admission(*params_.strategies);
    }

    /// Whether events need the time: with no deadline, no observer and no
    /// strategy (a plain engine's gate: its chain), the driver may pass
    /// time_point() and skip the clock read.
    bool needs_clock() const noexcept {
        return observer_enabled_v<Observer> || params_.exchange != unlimited ||
               params_.connect != unlimited || params_.total != unlimited ||
               params_.fixed_deadline != time_point::max() || has_strategies() ||
               params_.strategies != nullptr;
    }

    /// Whether attempt_ended needs the time: after a failure (a retry's
    /// sleep, the deadlines' arithmetic) or for an observer, a listener or a
    /// strategy that reads durations; a success that nobody times reads no
    /// clock (a strategy that wants the time then reads it through
    /// lazy_time).
    [[gnu::always_inline]] bool needs_clock_at_end(bool failed) const noexcept {
        return (failed && needs_clock()) || (failed && params_.retry) ||
               observer_enabled_v<Observer> || strategies_time_attempts() || waiting_ > 0;
    }

    // ---- events (call_machine_events.hpp) -------------------------------------------

    void start(time_point now);
    /// Before start(): the breaker admitted the first attempt already (the
    /// driver asked it before building the call, to refuse without building
    /// it); the first attempt takes that permit instead of asking again.
    void breaker_admitted_first(std::uint64_t ticket) noexcept {
        first_admitted_ = true;
        first_ticket_ = ticket;
    }
    /// The attempt on `slot` completed with `ec`. Returns true when its
    /// values are now the ones the call completes with (the winner's, or the
    /// last attempt's on failure): the driver keeps them. `clock_read`:
    /// false when the driver skipped the clock (needs_clock_at_end said so);
    /// strategies then read it only if they need it.
    bool attempt_ended(int slot, time_point now, std::error_code ec, bool clock_read = true);
    /// The attempt's handler was destroyed without being invoked (its
    /// execution context shut down): hand its permits back.
    void attempt_abandoned(int slot) noexcept;
    /// The clock reached (or passed) wakeup().
    void timer(time_point now);
    /// The admission strategy the slot waited for admitted it (its waiter's
    /// admitted() ran): take the remaining admissions, then start.
    void admission_granted(int slot, time_point now);
    /// The caller cancelled (from the handler's executor).
    void cancel(asio::cancellation_type_t type, time_point now) noexcept;
    /// The driver has executed the start or cancel action for `slot`.
    void action_done(int slot) noexcept { slots_[pinned(slot)].busy = false; }
    /// The driver delivers the completion now.
    void completed();

    // ---- what the driver asks -------------------------------------------------------

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

    bool busy(int slot) const noexcept { return slots_[pinned(slot)].busy; }
    /// How many slots wait for admission in a strategy's queue: each holds a
    /// reference of the driver's while its strategy may call its waiter (a
    /// slot waiting for a reserved permit is woken by the deadline queue).
    int waiting() const noexcept { return waiting_ - timed_waiting_; }
    /// Where the driver keeps the waiter of a slot it has not built yet:
    /// open(driver, slot) builds the driver's state of that slot and returns
    /// its waiter. Asked when a hedge first needs the slot.
    struct waiter_source {
        void* driver = nullptr;
        admission_waiter* (*open)(void* driver, int slot) noexcept = nullptr;
    };
    /// The waiter objects given to admission strategies: the first slot's,
    /// and where the others' will come from.
    void attach_waiters(admission_waiter& first, [[maybe_unused]] waiter_source more) noexcept {
        if constexpr (Chain::enabled)
            slots_[0].waiter = &first;
        if constexpr (slots > 1)
            more_waiters_ = more;
    }
    /// How many slots this call has used: the first, and one more for each
    /// hedge that found the others busy. The driver's state of a slot
    /// exists from its first use on.
    int slots_used() const noexcept { return used(); }
    /// The call completes with default-constructed values: its last attempt
    /// was cut before it started.
    bool default_values() const noexcept { return default_values_; }
    bool sleeping() const noexcept { return sleeping_; }
    /// Nothing but the deadline queue may wake the call: it sleeps between
    /// attempts, or a slot waits for a reserved permit (a rate limiter's
    /// token) which no other call's release() will grant.
    bool woken_by_timer_only() const noexcept {
        if constexpr (Chain::enabled)
            return sleeping_ || timed_waiting_ > 0;
        else
            return sleeping_;
    }
    bool finished() const noexcept { return finished_; }
    int in_flight() const noexcept { return in_flight_; }
    const attempt_type& attempt(int slot) const noexcept { return attempts_[pinned(slot)]; }

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
        r.original_fault = fallback_trigger_.value_or(fault_class::permanent);
        r.fallback_error = fallback_error_;
        if constexpr (slots > 1) {
            if (hedged()) {
                r.hedges_started = std::max(attempts_started_ - 1, 0);
                r.hedge_won = !error_ && hedges_.winner > 1;
                r.hedges_suppressed = hedges_suppressed();
            }
        }
        return r;
    }

    /// Whether the call ran under a parallel_attempts strategy (hedging).
    bool hedged() const noexcept {
        if constexpr (slots > 1)
            return params_.strategies && params_.strategies->parallel;
        else
            return false;
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
            return winning_attempt() > 1 ? call_outcome::success_after_retry
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

    struct no_tickets {};
    /// What launch() resets for each attempt.
    struct attempt_slot {
        int number = 0;
        time_point started{};
        time_point exchange_deadline = time_point::max();
        expiry expired = expiry::none;
        asio::cancellation_type_t cancel = asio::cancellation_type::none; ///< to emit
        asio::cancellation_type_t cancel_requested = asio::cancellation_type::none;
        std::uint8_t admitted = 0; ///< which admission strategies hold a permit for it
        bool running = false;      ///< started and not yet ended
        bool start = false;        ///< a start action is pending
        bool busy = false;         ///< the driver executes an action for it outside its lock
        bool lost = false;         ///< cancelled by us because another attempt won
        bool unstarted = false;    ///< cut before it started: already due
        bool waiting = false;      ///< queued by an admission strategy, not admitted yet
        bool timed_wait = false;   ///< waiting for a permit reserved for wait_until
    };
    /// An attempt slot: what launch() resets, then what is written before
    /// it is read (a ticket under its `admitted` bit, a wait's fields by
    /// begin_wait, read while `waiting`). Those are left uninitialised, here
    /// and at each attempt: a call through a strategy initialises no more
    /// than one without.
    struct slot_state : attempt_slot {
        slot_state() noexcept {} // NOLINT: leaves the fields below uninitialised
        /// The admissions' tickets, handed back on release; nothing without
        /// strategies.
        [[no_unique_address]] std::conditional_t<Chain::enabled, std::array<std::uint64_t, 3>,
                                                 no_tickets>
            tickets;
        /// The driver's waiter for this slot, given to admission strategies.
        [[no_unique_address]] std::conditional_t<Chain::enabled, admission_waiter*, no_tickets>
            waiter;
        std::uint8_t waiting_on; ///< which admission strategy it waits for
        time_point wait_until;   ///< when the wait runs out
        /// When the wait began, for events::admission_wait: nothing without
        /// strategies or an observer.
        [[no_unique_address]] std::conditional_t<Chain::enabled && observer_enabled_v<Observer>,
                                                 time_point, no_tickets>
            wait_started;
        union {                           // not constructed: assigned (trivially) before it is read
            std::error_code wait_refusal; ///< the refusal then
        };
    };

    /// `slot` as a constant where there is one slot (every engine but the
    /// parallel one): the slot's state is then at a fixed offset.
    static int pinned([[maybe_unused]] int slot) noexcept {
        if constexpr (slots == 1)
            return 0;
        else
            return slot;
    }

    /// The slots used so far; a constant where there is one (no parallel seam).
    int used() const noexcept {
        if constexpr (slots == 1)
            return 1;
        else
            return slots_used_;
    }

    static clock_ticks ticks(time_point t) noexcept {
        return std::chrono::duration_cast<clock_ticks>(t.time_since_epoch());
    }

    /// Whether a chain is given: always on the serial and single engines.
    bool has_strategies() const noexcept {
        if constexpr (std::is_same_v<Chain, strategy_chain>)
            return params_.strategies != nullptr;
        else
            return Chain::enabled;
    }

    /// The single_admission engine's strategy and its stage (0 breaker,
    /// 1 rate limiter, 2 bulkhead), found once per call.
    struct only_stage {
        admission_strategy* strategy = nullptr;
        int stage = 0;
    };
    static only_stage only_admission(const strategy_chain& c) noexcept {
        if (c.breaker)
            return {c.breaker.get(), 0};
        if (c.rate_limiter)
            return {c.rate_limiter.get(), 1};
        return {c.bulkhead.get(), 2};
    }

    /// Whether a strategy needs the time of every attempt's end: a listener
    /// (it is handed the time), or an admission strategy that reads
    /// durations.
    [[gnu::always_inline]] bool strategies_time_attempts() const noexcept;

    /// The time handed to strategies when the driver did not read it (an
    /// attempt's end nobody times): read on first use.
    static clock_ticks read_clock() noexcept { return ticks(Clock::now()); }

    int max_attempts() const noexcept {
        if constexpr (slots > 1) { // hedging counts its own attempts
            if (params_.strategies && params_.strategies->parallel)
                if (const int n = params_.strategies->parallel->max_attempts(); n > 0)
                    return n;
        }
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

    // ---- the transitions the events share (call_machine_events.hpp) -----------------

    /// A hedge found every slot used so far busy: builds the next one, the
    /// driver's state of it included.
    void open_slot(int slot) noexcept;

    /// The end is known: cancel what still runs, complete once it has.
    void decide_end(give_up_reason reason, time_point now) noexcept;
    /// Starts the next attempt now, if its admission allows.
    void launch(time_point now);
    /// The slot's attempt has every permit: it starts now.
    [[gnu::always_inline]] void begin_attempt(int slot, time_point now);
    /// begin_attempt found the attempt already due: it ends unstarted. Not
    /// inline (rare, and it ends the attempt): begin_attempt stays small
    /// enough to inline into launch().
    void end_unstarted(int slot, time_point now);
    /// decide_end with slots waiting for admission: they stop waiting. Out
    /// of decide_end, which a call without waits then pays one branch for.
    void stop_waiting_all(time_point now);
    /// A failed attempt and nothing else in flight: retry or give up.
    void after_failure(std::error_code ec, fault_class fault, const attempt_feedback& feedback,
                       time_point now);

    // ---- the fallback, around the whole call (call_machine_strategies.hpp) ----------

    /// The call failed with a class the fallback answers, the caller did not
    /// cancel, and there is time left.
    bool fallback_applies() const noexcept;
    void start_fallback() noexcept;
    /// The fallback completed: its values are the call's when it answered.
    bool fallback_ended(slot_state& s, std::error_code ec, time_point now) noexcept;

    // ---- strategies (call_machine_strategies.hpp); the plain engine's gate too ------

    /// Asks the retry gate about the next attempt; a refusal ends the call.
    bool gate_allows(time_point now);
    /// Asks the retry gate about the call, before its first attempt; a
    /// refusal ends the call with no attempt.
    void admit_call(time_point now) noexcept;
    /// start() with a gate: admit_call(), launch_first(). Out of line, else
    /// start() saves registers for every call, gate or none (+13 instructions).
    [[gnu::noinline]] void start_gated(time_point now);
    /// Launches attempt 1, unless the call ended (the first permit goes back).
    void launch_first(time_point now);
    /// Tell the retry gate of an attempt's end, of the call's end decided.
    /// Out of line: most gates hear neither.
    [[gnu::noinline]] void gate_attempt_end(const attempt_record& record) noexcept;
    [[gnu::noinline]] void gate_call_end(time_point now) noexcept;
    admission_strategy* admission_at(int i) const noexcept;
    enum class admitted : std::uint8_t { yes, no, waiting };
    /// Breaker, then rate limiter, then bulkhead, from strategy `from` on. A
    /// refusal hands back the permits already taken and ends the call or its
    /// retries; a wait leaves the slot waiting for admission_granted().
    [[gnu::always_inline]] admitted admit(int slot, int from, time_point now);
    /// Strategy `stage` did not admit the slot's attempt: it waits (for a
    /// queue or a reserved permit) or is refused. Not declared inline, and
    /// out of admit(): admit() stays small enough to inline into launch().
    admitted wait_or_refuse(slot_state& s, int stage, const admission& a, time_point now);
    /// The slot's attempt will not start: hand back its permits; a refused
    /// first attempt ends the call as rejected, a refused retry ends it with
    /// the last attempt's error (a refused hedge just does not run).
    void refuse(slot_state& s, std::error_code why, std::optional<std::chrono::nanoseconds> after,
                time_point now);
    /// A waiting slot whose wait ran out, or whose call ended: withdraw it.
    void stop_waiting(int slot, time_point now, bool call_over);
    /// The slot's reserved permit is due: on to the strategies further in.
    void reservation_due(int slot, time_point now);
    /// Starts the wait of a slot that strategy `stage` made wait.
    void begin_wait(slot_state& s, int stage, const admission& a, time_point until,
                    time_point now) noexcept;
    /// The wait of `s` is over: tells the observer (events::admission_wait).
    void wait_over(const slot_state& s, time_point now, std::error_code refusal) const;
    /// The error an attempt whose call ended while it waited ends with.
    std::error_code ended_while_waiting() const noexcept;
    void hand_back_unstarted(slot_state& s, time_point now) noexcept;
    void hand_back(slot_state& s, const lazy_time& now, const attempt_record& record) noexcept;
    void plan_hedge(int number, time_point now);
    /// The number of the attempt that succeeded: under parallel attempts
    /// not always the last started (a primary that wins beside its hedge
    /// is a success, not a success after retry).
    int winning_attempt() const noexcept {
        if constexpr (slots > 1)
            return hedges_.winner;
        else
            return attempts_started_;
    }
    /// The hedges that were due and did not start, as call_report says.
    int hedges_suppressed() const noexcept {
        if constexpr (slots > 1)
            return hedges_.suppressed + (hedges_.suppressed_due <= ended_at_ ? 1 : 0);
        else
            return 0;
    }
    /// Whether an attempt starting at `at` would start before the total
    /// deadline with the parallel strategy's min_remaining left.
    bool leaves_time_for_attempt(time_point at) const noexcept;
    /// A failed attempt under parallel attempts: true when that decided what
    /// happens next (the call ended, the next attempt started, or the others
    /// in flight go on); false: as without them.
    bool parallel_failure(fault_class fault, time_point now);
    /// The retry gate's word on a hedge: with attempts in flight a refusal
    /// only keeps the hedge from starting; with none, it is a retry's.
    bool hedge_allowed(time_point now);

    // ---- state ----------------------------------------------------------------------

    params_type params_;
    const Observer* observer_;
    // Built up to slots_used_: a call that never hedges builds one of each.
    slot_array<slot_state, slots> slots_;
    slot_array<attempt_type, slots> attempts_;
    slot_array<attempt_feedback, slots> feedback_;

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
    struct no_waiter_source {};
    [[no_unique_address]] std::conditional_t<(slots > 1), waiter_source, no_waiter_source>
        more_waiters_{};
    int waiting_ = 0;
    int timed_waiting_ = 0; ///< of waiting_, those waiting for a reserved permit
    struct no_only_stage {};
    [[no_unique_address]] std::conditional_t<single, only_stage, no_only_stage> only_{};
    int attempts_started_ = 0;
    int in_flight_ = 0;
    std::uint64_t first_ticket_ = 0;
    bool first_admitted_ = false; ///< breaker_admitted_first, until the first launch
    bool sleeping_ = false;
    bool decided_ = false;
    bool complete_pending_ = false;
    bool finished_ = false;
    bool outcome_unknown_ = false;
    bool default_values_ = false;
    /// What the retry gate hears (hears_attempts, hears_call_ends), read
    /// when it admits the call: a call without a gate, or whose gate hears
    /// nothing, pays one test per event.
    static constexpr std::uint8_t hears_attempts = 1;
    static constexpr std::uint8_t hears_call_ends = 2;
    std::uint8_t gate_hears_ = 0;
    enum class fallback_state : std::uint8_t { none, running, answered, failed };
    fallback_state fallback_ = fallback_state::none;
    call_outcome outcome_before_fallback_ = call_outcome::failure;
    std::error_code original_error_;
    std::optional<fault_class> fallback_trigger_; ///< original_error_'s class
    std::error_code fallback_error_;
    /// What call_report says of hedging; only a call with slots for
    /// parallel attempts keeps it.
    struct hedge_counts {
        int winner = 0;     ///< the successful attempt's number
        int suppressed = 0; ///< hedges due that did not start
        /// When the next hedge would have been due had min_remaining not
        /// kept it back: suppressed if the call was still going then.
        time_point suppressed_due = time_point::max();
    };
    struct no_hedge_counts {};
    [[no_unique_address]] std::conditional_t<(slots > 1), hedge_counts, no_hedge_counts> hedges_{};
};

} // namespace keel::detail

#include <keel/detail/call_machine_events.hpp>
#include <keel/detail/call_machine_strategies.hpp>
