// Observers: what a pipeline tells about each call, for traces and metrics.
#pragma once

#include <keel/fault.hpp>
#include <keel/retry.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <system_error>

namespace keel {

/// How a call ended (the `outcome` label of keel_calls_total).
enum class call_outcome : std::uint8_t {
    success,
    success_after_retry,
    failure,
    failure_after_retry,
    timeout,   ///< the final error is a timeout (any phase)
    cancelled, ///< the caller cancelled
    rejected,  ///< refused before any attempt (a circuit, a bulkhead, a rate limit)
    fallback,  ///< the call failed and its fallback answered instead
};

/// How an attempt ended (the `result` label of keel_attempts_total).
enum class attempt_result : std::uint8_t { success, failure, timeout };

/// Which deadline expired (the `phase` label of keel_timeouts_total).
enum class timeout_phase : std::uint8_t { connect, exchange, total };

/// Which admission strategy an attempt waited for.
enum class admission_stage : std::uint8_t { breaker, rate_limiter, bulkhead };

std::string_view to_string(call_outcome o) noexcept;
std::string_view to_string(attempt_result r) noexcept;
std::string_view to_string(timeout_phase p) noexcept;
std::string_view to_string(admission_stage s) noexcept;

/// What the caller can learn about a finished call besides its error code:
/// pass one to `async_run(op, report, token)`.
struct call_report {
    int attempts = 0;
    call_outcome outcome = call_outcome::success;
    give_up_reason reason = give_up_reason::none;
    /// The error the call completed with: the last attempt's own error, or
    /// keel's code when keel cut that attempt short (a timeout, a cancel).
    std::error_code error;
    fault_class fault = fault_class::permanent; ///< its class (meaningless on success)
    /// The last error an attempt reported by itself, not caused by keel's
    /// timeouts or the caller's cancellation: "refused twice, then timed
    /// out" keeps the refusal here while `error` says exchange_timeout.
    std::error_code last_operation_error;
    /// An attempt reported that its request may have been applied although
    /// it failed (attempt_feedback::outcome_unknown): the caller must not
    /// assume it had no effect.
    bool outcome_unknown = false;
    /// The local refusal that ended the call or stopped its retries
    /// (keel::errc::circuit_open, ...), if any; with `retry_after`, when the
    /// refusing strategy expects to admit again.
    std::error_code refusal;
    std::optional<std::chrono::nanoseconds> retry_after;
    /// When a fallback ran: the error the call had ended with before it.
    /// The call's `error` is then the fallback's success (outcome
    /// `fallback`), or this same error when the fallback failed too.
    std::error_code original_error;
    /// The fault class of original_error, which made the fallback run
    /// (meaningless when no fallback ran).
    fault_class original_fault = fault_class::permanent;
    /// The fallback's own error, when it ran and failed.
    std::error_code fallback_error;
    /// Hedging (parallel attempts): how many attempts started beside an
    /// attempt already running, whether one of them gave the call its
    /// success (not the first attempt), and how many hedges that were due
    /// did not start (the retry budget refused them, or too little time was
    /// left before the total deadline).
    int hedges_started = 0;
    bool hedge_won = false;
    int hedges_suppressed = 0;
};

namespace events {
struct call_start {
    std::string_view dependency;
};
struct attempt_start {
    std::string_view dependency;
    int attempt;
};
struct attempt_end {
    std::string_view dependency;
    int attempt;
    attempt_result result;
    std::error_code error;
    fault_class fault; ///< meaningless when result is success
    std::chrono::nanoseconds duration;
};
struct retry_scheduled {
    std::string_view dependency;
    int next_attempt;
    std::chrono::nanoseconds delay;
    fault_class reason;
    bool server_advised;
};
struct timeout {
    std::string_view dependency;
    int attempt;
    timeout_phase phase;
};
/// An attempt waited for admission (a bulkhead's queue, a rate limiter's
/// next token) and the wait is over: admitted, or refused when it ran out
/// (`refusal`: bulkhead_timeout, ...) or cut by the call's deadline or
/// cancellation (`refusal` is then that error). Not sent for attempts
/// admitted or refused at once.
struct admission_wait {
    std::string_view dependency;
    int attempt;
    admission_stage stage;
    std::chrono::nanoseconds waited;
    std::error_code refusal; ///< empty: admitted
};
/// A call under hedging ended (sent just before its call_end): as
/// call_report's hedges_started, hedge_won and hedges_suppressed.
struct hedges {
    std::string_view dependency;
    int started;    ///< attempts started after the first
    bool won;       ///< one of them gave the call its success
    int suppressed; ///< hedges due that did not start (budget, min_remaining)
};
struct call_end {
    std::string_view dependency;
    call_outcome outcome;
    int attempts;
    std::error_code error;
    std::chrono::nanoseconds duration;
    /// The local refusal that ended the call or cut its retries short
    /// (keel::errc::circuit_open, ...; call_report::refusal), if any.
    std::error_code refusal = {};
    /// When a fallback ran (call_report::original_error is set): the fault
    /// class of the error that made it run. The outcome says whether it
    /// answered (`fallback`) or failed too (the original error's outcome).
    std::optional<fault_class> fallback_trigger = {};
};
} // namespace events

/// The default observer: compiled away. A pipeline reads no clock for an
/// observer whose `enabled` is false.
struct null_observer {
    static constexpr bool enabled = false;
    template <class Event>
    void on(const Event&) const noexcept {}
};

/// Whether a pipeline reports events to observers of type O (and reads the
/// clock for them): O::enabled when O declares it, true otherwise.
template <class O>
constexpr bool observer_enabled() noexcept {
    if constexpr (requires { O::enabled; })
        return O::enabled;
    else
        return true;
}
template <class O>
inline constexpr bool observer_enabled_v = observer_enabled<O>();

/// Base class for observers chosen at run time (trace printers, the
/// Prometheus observer). Called from whichever thread completes the event;
/// implementations must be thread-safe when pipelines run on several threads.
class observer {
public:
    virtual ~observer() = default;
    virtual void on(const events::call_start&) {}
    virtual void on(const events::attempt_start&) {}
    virtual void on(const events::attempt_end&) {}
    virtual void on(const events::retry_scheduled&) {}
    virtual void on(const events::timeout&) {}
    virtual void on(const events::admission_wait&) {}
    virtual void on(const events::hedges&) {}
    virtual void on(const events::call_end&) {}
};

/// Pipeline observer parameter that forwards to a shared `keel::observer`.
class shared_observer {
public:
    static constexpr bool enabled = true;
    shared_observer() = default;
    explicit shared_observer(std::shared_ptr<observer> target) noexcept
        : target_(std::move(target)) {}
    template <class Event>
    void on(const Event& e) const {
        if (target_)
            target_->on(e);
    }
    const std::shared_ptr<observer>& target() const noexcept { return target_; }

private:
    std::shared_ptr<observer> target_;
};

} // namespace keel
