// The seams through which the stability patterns plug into a call: admission
// before an attempt, observation of its end, gating of retries and hedges,
// and parallel attempts. docs/architecture.md shows the order and why.
#pragma once

#include <keel/error.hpp>
#include <keel/fault.hpp>
#include <keel/observer.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <system_error>
#include <utility>

namespace keel {

/// A moment on the calling pipeline's clock, as time since that clock's
/// epoch. Strategy state is shared by every pipeline of a dependency, so it
/// carries no clock type of its own: the call hands it the time.
using clock_ticks = std::chrono::nanoseconds;

/// The time of one event, read from the calling pipeline's clock when a
/// strategy first asks for it (a clock read is ~20 ns): a strategy that
/// needs no time at that moment (a closed breaker counting attempts) costs
/// the call none. Read once, then the same value; used on one thread, within
/// the call that handed it over.
class lazy_time {
public:
    using reader = clock_ticks (*)() noexcept;
    /// A time already known.
    lazy_time(clock_ticks known) noexcept : value_(known) {}
    /// A time `read` returns when first asked for.
    explicit lazy_time(reader read) noexcept : read_(read) {}

    clock_ticks get() const noexcept {
        if (read_)
            value_ = std::exchange(read_, nullptr)();
        return value_;
    }
    /// Whether the time was known or read already.
    bool known() const noexcept { return read_ == nullptr; }

private:
    mutable clock_ticks value_{0};
    mutable reader read_ = nullptr;
};

/// An attempt that reached the operation, as the strategies see it when the
/// operation has completed.
struct attempt_record {
    int attempt = 1;
    attempt_result result = attempt_result::success;
    fault_class fault = fault_class::transient; ///< meaningless on success
    std::error_code error;
    /// 0 when no strategy of the chain needs durations (needs_durations).
    std::chrono::nanoseconds duration{0};
    bool outcome_unknown = false; ///< the operation said the request may have been applied
    /// The server's advised delay (attempt_feedback::retry_after: HTTP
    /// Retry-After, a broker's throttle time), if it gave one: the pushback a
    /// rate limiter honours.
    std::optional<std::chrono::nanoseconds> retry_after;
};

/// A strategy's answer to "may this attempt start now?".
struct admission {
    bool admitted = true;
    /// With `wait`: the strategy has reserved a permit for the attempt,
    /// free `*wait` from now (a rate limiter's next token; admit_after). The
    /// engine sleeps on its deadline queue, then goes on to the next strategy
    /// without asking this one again. The permit is held from now: handed
    /// back through release() (with a null attempt and `ticket`) if the
    /// attempt never starts -- the wait would end past the call's total
    /// deadline (the engine then refuses at once with `refusal` and
    /// `retry_after`), the call is cancelled or its end is decided while it
    /// waits, or a strategy further in refuses it.
    bool reserved = false;
    /// One of keel's local refusals (errc::circuit_open, ...); with `wait`,
    /// the refusal if the wait runs out (errc::bulkhead_timeout) or, with
    /// `reserved`, if it cannot end in time (errc::rate_limited).
    std::error_code refusal;
    std::optional<std::chrono::nanoseconds> retry_after; ///< when to come back, if known
    /// Not admitted yet, not refused: the strategy has queued the attempt's
    /// admission_waiter and calls its admitted() when a permit frees, within
    /// this bound (the call's total deadline may cut it shorter). With
    /// `reserved`: the time until the reserved permit is free.
    std::optional<std::chrono::nanoseconds> wait;
    /// Handed back with the attempt to release(): what the strategy needs to
    /// know of its own admission (a circuit breaker's epoch: a result of an
    /// attempt admitted before a transition is ignored; an endpoint set also
    /// names the endpoint's breaker; a rate limiter's token time). 0 unless
    /// set; 0 for a waiter admitted through admitted().
    std::uint64_t ticket = 0;

    static admission admit(std::uint64_t ticket = 0) noexcept {
        admission a;
        a.ticket = ticket;
        return a;
    }
    static admission reject(errc why,
                            std::optional<std::chrono::nanoseconds> retry_after = {}) noexcept {
        admission a;
        a.admitted = false;
        a.refusal = make_error_code(why);
        a.retry_after = retry_after;
        return a;
    }
    static admission wait_at_most(std::chrono::nanoseconds bound, errc on_timeout) noexcept {
        admission a;
        a.admitted = false;
        a.refusal = make_error_code(on_timeout);
        a.wait = bound;
        return a;
    }
    /// A permit reserved for `delay` from now (see `reserved`); `refusal`
    /// and a retry-after of `delay` if the engine cannot wait that long.
    static admission admit_after(std::chrono::nanoseconds delay, errc refusal,
                                 std::uint64_t ticket) noexcept {
        admission a;
        a.admitted = false;
        a.reserved = true;
        a.refusal = make_error_code(refusal);
        a.retry_after = delay;
        a.wait = delay;
        a.ticket = ticket;
        return a;
    }
};

/// An attempt waiting for admission, as its strategy holds it.
class admission_waiter {
public:
    /// The strategy admits the waiting attempt: it now holds a permit, given
    /// back through release() as any other. Called once, from any thread,
    /// and never while the strategy holds a lock of its own that admit(),
    /// release() or withdraw() take (keel posts the rest to the call's
    /// executor).
    virtual void admitted() noexcept = 0;

    /// The endpoint the call reported (its operation's endpoint(), e.g.
    /// "http://db1:8080"), empty when it reported none: what a strategy
    /// kept per endpoint (endpoint_circuit_breakers) is keyed by. Valid
    /// until the call completes.
    std::string_view endpoint() const noexcept { return endpoint_; }

    /// Links for the one strategy that has queued this waiter (a slot waits
    /// on one strategy at a time): a FIFO of waiters costs no allocation.
    /// Null while the waiter is in no queue; keel never touches them.
    struct queue_links {
        admission_waiter* prev = nullptr;
        admission_waiter* next = nullptr;
    };
    queue_links& links() noexcept { return links_; }

protected:
    ~admission_waiter() = default;
    /// Set by the engine for each attempt slot before the call's first
    /// admission.
    void set_endpoint(std::string_view endpoint) noexcept { endpoint_ = endpoint; }

private:
    std::string_view endpoint_;
    queue_links links_;
};

/// Admission before each attempt (circuit breaker, rate limiter, bulkhead).
/// Shared by the callers of a dependency: implementations are thread-safe.
class admission_strategy {
public:
    virtual ~admission_strategy() = default;
    /// Asked before each attempt, the first and every retry or hedge. An
    /// admitted attempt is handed back through release() exactly once. A
    /// strategy that makes attempts wait queues `waiter` and answers
    /// admission::wait_at_most(...); one that never waits ignores it. A
    /// reservation (admission::admit_after) counts as admitted: it too is
    /// handed back exactly once.
    virtual admission admit(clock_ticks now, admission_waiter& waiter) = 0;
    /// The wait of `waiter` ran out, or its call ended: take it out of the
    /// queue. True: it was still queued (it holds no permit). False: it was
    /// admitted already (its admitted() runs or ran); keel then hands the
    /// permit back through release() once it learns of it.
    virtual bool withdraw(admission_waiter& /*waiter*/) noexcept { return true; }
    /// The admitted attempt is over: its operation completed (`attempt`
    /// says how), or it never started (`attempt` is null: a strategy
    /// further in refused it, or its deadline was already due). Called only
    /// once the operation has really completed, so a permit is never free
    /// while the work it guards still runs. `ticket` is its admission's
    /// (admission::ticket; for a waiting attempt, 0).
    virtual void release(clock_ticks now, const attempt_record* attempt,
                         std::uint64_t ticket) noexcept = 0;

    /// What the engine calls: admit() and release() with the time read only
    /// if the strategy asks for it. By default read at once; a strategy that
    /// often needs no time overrides these (and answers admit() and
    /// release() through them).
    virtual admission admit_at(const lazy_time& now, admission_waiter& waiter) {
        return admit(now.get(), waiter);
    }
    virtual void release_at(const lazy_time& now, const attempt_record* attempt,
                            std::uint64_t ticket) noexcept {
        release(now.get(), attempt, ticket);
    }
    /// Whether release() reads attempt_record::duration. When no strategy
    /// of the chain does (and no listener, observer or retry needs the
    /// time), a successful attempt's end reads no clock and its duration is
    /// 0. A breaker without slow_call does not.
    bool needs_durations() const noexcept {
        return needs_durations_.load(std::memory_order_relaxed);
    }

protected:
    /// A member, not a virtual: the engine asks at every attempt's end.
    /// Atomic (relaxed: a plain load) because a strategy reconfigured in
    /// place by a reload may change it while calls run.
    void set_needs_durations(bool needed) noexcept {
        needs_durations_.store(needed, std::memory_order_relaxed);
    }

private:
    std::atomic<bool> needs_durations_{true};
};

/// Observation of every attempt that reached the operation (breaker
/// windows, adaptive concurrency, retry-budget credits).
class attempt_listener {
public:
    virtual ~attempt_listener() = default;
    virtual void on_attempt_end(clock_ticks now, const attempt_record& attempt) noexcept = 0;
};

/// Gating of a call and of every attempt after the first: a retry or a
/// hedge (retry budget, adaptive throttling).
class retry_gate {
public:
    virtual ~retry_gate() = default;
    /// Once per call, before its first attempt (budgets deposit here).
    virtual void on_call_start(clock_ticks /*now*/) noexcept {}
    /// What the engine calls once per call, before its first attempt: may
    /// the call start at all? A refusal ends it before any attempt, with
    /// the refusal as its error (fault class rejected, outcome rejected).
    /// By default on_call_start(), then admitted.
    virtual admission admit_call(clock_ticks now) noexcept {
        on_call_start(now);
        return admission::admit();
    }
    /// May attempt `next_attempt` (2, 3, ...) start? A refusal ends the
    /// retries: the call completes with the last attempt's own error and
    /// refusal_reason() (give_up_reason::rejected unless the gate says
    /// otherwise: a retry budget's is give_up_reason::budget). A gate does
    /// not make attempts wait.
    virtual admission may_retry(clock_ticks now, int next_attempt) noexcept = 0;
    /// An attempt that reached the operation ended; `retryable`: its fault
    /// class is in the retry policy's retry_on. Called only when
    /// hears_attempts().
    virtual void on_attempt_end(const attempt_record& /*attempt*/, bool /*retryable*/) noexcept {}
    /// The call's end is decided (before any fallback): `attempts` started,
    /// the error it ends with (none: it succeeded) and its fault class.
    /// Called only when hears_call_ends(); the time is read for it.
    virtual void on_call_end(clock_ticks /*now*/, int /*attempts*/, std::error_code /*error*/,
                             fault_class /*fault*/) noexcept {}

    /// Members, not virtuals: a gate that hears neither costs a call no
    /// virtual call per attempt or at its end.
    bool hears_attempts() const noexcept { return hears_attempts_; }
    bool hears_call_ends() const noexcept { return hears_call_ends_; }
    /// Why a call gives up when may_retry() refuses.
    give_up_reason refusal_reason() const noexcept { return refusal_reason_; }
    /// Whether admit_call() must see every call, before the breaker is
    /// asked about its first attempt (true unless the gate says otherwise).
    /// False: a call an open breaker refuses may never reach the gate,
    /// which keeps that refusal as cheap as without a gate (a retry budget
    /// deposits only for the calls that are sent).
    bool hears_every_call() const noexcept { return hears_every_call_; }

protected:
    /// Set at construction, before the gate is shared.
    void set_hearing(bool attempts, bool call_ends) noexcept {
        hears_attempts_ = attempts;
        hears_call_ends_ = call_ends;
    }
    void set_refusal_reason(give_up_reason reason) noexcept { refusal_reason_ = reason; }
    void set_hears_every_call(bool every) noexcept { hears_every_call_ = every; }

private:
    bool hears_attempts_ = false;
    bool hears_call_ends_ = false;
    give_up_reason refusal_reason_ = give_up_reason::rejected;
    bool hears_every_call_ = true;
};

/// More than one attempt of a call in flight (hedging). The first
/// successful attempt wins; the others get terminal cancellation, and the
/// caller's handler runs only after every one of them has completed.
class parallel_attempts {
public:
    virtual ~parallel_attempts() = default;
    /// How many attempts of one call may run at once (capped by the engine's
    /// slots, strategy_chain::max_in_flight).
    virtual int max_in_flight() const noexcept = 0;
    /// How long after attempt `next_attempt - 1` started attempt
    /// `next_attempt` starts beside it; nullopt: no further parallel attempt.
    virtual std::optional<std::chrono::nanoseconds>
    delay_before(int next_attempt) const noexcept = 0;

    /// What a failed attempt does while the call may go on.
    enum class on_failure : std::uint8_t {
        wait_for_others, ///< the attempts in flight may still win (the default)
        start_next,      ///< the next attempt starts at once (a hedge's non-fatal failure)
        end_call,        ///< the call ends with this error, the others cancelled
    };
    virtual on_failure after_failure(fault_class /*fault*/) const noexcept {
        return on_failure::wait_for_others;
    }
    /// The most attempts a call starts; 0: the retry policy's max_attempts.
    virtual int max_attempts() const noexcept { return 0; }
    /// No further attempt starts with less than this left before the call's
    /// total deadline.
    virtual std::chrono::nanoseconds min_remaining() const noexcept {
        return std::chrono::nanoseconds(0);
    }
    /// A successful attempt took `duration` (a delay that learns from it);
    /// called only when needs_durations().
    virtual void attempt_succeeded(std::chrono::nanoseconds /*duration*/) noexcept {}
    virtual bool needs_durations() const noexcept { return false; }
};

/// The strategies of one dependency's calls. A null member is not
/// configured and costs one predictable branch. The engine applies them in
/// the canonical order, outermost first: retry or hedging gated by `gate`,
/// then `breaker`, `rate_limiter`, `bulkhead` (admission of each attempt),
/// then the per-attempt deadlines and the operation; `listeners` hear every
/// attempt's end.
struct strategy_chain {
    /// The engine's attempt slots per call: the most attempts one call can
    /// have in flight together.
    static constexpr int max_in_flight = 5; // hedging's cap (gRPC's)
    static constexpr bool enabled = true;

    std::shared_ptr<retry_gate> gate;
    std::shared_ptr<parallel_attempts> parallel;
    std::shared_ptr<admission_strategy> breaker;
    std::shared_ptr<admission_strategy> rate_limiter;
    std::shared_ptr<admission_strategy> bulkhead;
    std::shared_ptr<attempt_listener> listener;

    bool empty() const noexcept {
        return !gate && !parallel && !breaker && !rate_limiter && !bulkhead && !listener;
    }
};

/// A pipeline without strategy seams: every hook compiles away.
struct no_strategies {
    static constexpr int max_in_flight = 1;
    static constexpr bool enabled = false;
};

namespace detail {
/// The engine a strategy_chain without parallel attempts runs on: every seam
/// but one attempt slot. A pipeline typed with strategy_chain picks, per
/// call, no_strategies (nothing configured), single_admission, this, or
/// strategy_chain (with parallel attempts): decided at update(), one branch
/// per call, and a strategy left out costs nothing.
struct serial_strategies {
    static constexpr int max_in_flight = 1;
    static constexpr bool enabled = true;
};

/// The engine of a chain with exactly one admission strategy (breaker, rate
/// limiter or bulkhead), no listener or parallel attempts, and no retry gate
/// or a quiet one (quiet_gate: the default retry budget). The machine asks
/// that one strategy without walking the chain's stages and listener at
/// every attempt.
struct single_admission {
    static constexpr int max_in_flight = 1;
    static constexpr bool enabled = true;
};

/// Whether `chain` has no gate, or one that hears only call starts and
/// retries (admit_call, may_retry): a retry budget of the ratio kind, on by
/// default for every dependency. The plain and single engines take such a
/// gate, so the default budget costs a call its deposit, not the serial
/// engine's walk of every seam.
inline bool quiet_gate(const strategy_chain& chain) noexcept {
    return !chain.gate || (!chain.gate->hears_attempts() && !chain.gate->hears_call_ends());
}

/// Whether `chain` runs on single_admission.
inline bool has_single_admission(const strategy_chain& chain) noexcept {
    const int stages =
        (chain.breaker ? 1 : 0) + (chain.rate_limiter ? 1 : 0) + (chain.bulkhead ? 1 : 0);
    return stages == 1 && quiet_gate(chain) && !chain.listener && !chain.parallel;
}

/// Whether `chain` holds a quiet gate and nothing else: it runs on the plain
/// engine, which asks the gate at the call's start and before each retry.
inline bool has_gate_only(const strategy_chain& chain) noexcept {
    return chain.gate && quiet_gate(chain) && !chain.breaker && !chain.rate_limiter &&
           !chain.bulkhead && !chain.listener && !chain.parallel;
}
} // namespace detail

} // namespace keel
