// The retry policy and its decision: retry after a delay, or give up.
#pragma once

#include <keel/backoff.hpp>
#include <keel/fault.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string_view>
#include <system_error>

namespace keel {

/// How a server-advised delay (HTTP Retry-After, a broker's throttle time)
/// is used: when honoured it replaces the computed backoff, capped at `max`.
struct retry_after_policy {
    bool honor = true;
    std::chrono::nanoseconds max = std::chrono::seconds(30);

    friend bool operator==(const retry_after_policy&, const retry_after_policy&) = default;
};

enum class give_up_reason : std::uint8_t {
    none,               ///< the call did not give up (it succeeded, or was retried)
    not_retryable,      ///< the fault class is not in retry_on, the predicate or the
                        ///< operation (attempt_feedback) said no
    attempts_exhausted, ///< max_attempts attempts ran
    deadline,           ///< the next sleep would end past the total deadline
    rejected,           ///< a strategy refused the next attempt (a circuit, a bulkhead, a rate
                        ///< limit); call_report::refusal says which
    budget,             ///< the retry budget refused the next attempt
                        ///< (call_report::refusal: errc::retry_budget_exhausted)
};

std::string_view to_string(give_up_reason r) noexcept;

/// What one failed attempt looked like, as the decision needs it.
struct failed_attempt {
    int number = 1;        ///< 1-based number of the attempt that failed
    std::error_code error; ///< its error
    fault_class fault = fault_class::permanent;
    std::optional<std::chrono::nanoseconds> retry_after; ///< a server-advised delay, if any
    bool retry_forbidden = false;               ///< the operation said: never retry this one
    std::chrono::nanoseconds previous_delay{0}; ///< the delay slept before this attempt
    /// Time until the call's total deadline; nanoseconds::max() when there is none.
    std::chrono::nanoseconds time_left = std::chrono::nanoseconds::max();
};

struct retry_decision {
    bool retry = false;
    std::chrono::nanoseconds delay{0};
    give_up_reason reason = give_up_reason::none;
    bool server_advised = false; ///< the delay came from retry_after, not the backoff
};

/// Whether a sleep of `delay` leaves time for another attempt before a total
/// deadline `time_left` away (nanoseconds::max(): none). The deadline rule of
/// retry_policy::decide: a sleep that ends at or past the deadline leaves no
/// time for the attempt, so the call gives up with the real error now rather
/// than later with a timeout.
constexpr bool sleep_fits(std::chrono::nanoseconds delay,
                          std::chrono::nanoseconds time_left) noexcept {
    return delay < time_left;
}

/// How many sleeps of `delay` (>= 0) one after another fit that way: the
/// largest k with sleep_fits(k * delay, time_left), INT64_MAX when there is
/// no bound (no deadline, or no sleep). What a planner uses to skip ahead over
/// retries that all sleep the same.
constexpr std::int64_t sleeps_that_fit(std::chrono::nanoseconds delay,
                                       std::chrono::nanoseconds time_left) noexcept {
    if (!sleep_fits(std::chrono::nanoseconds(0), time_left))
        return 0;
    if (time_left == std::chrono::nanoseconds::max() || delay <= std::chrono::nanoseconds(0))
        return std::numeric_limits<std::int64_t>::max();
    return (time_left.count() - 1) / delay.count();
}

struct retry_policy {
    /// Attempts in all, the first call included; 1 means "never retry".
    int max_attempts = 3;
    backoff_policy backoff;
    fault_set retry_on{fault_class::transient, fault_class::timeout};
    retry_after_policy retry_after;
    /// Optional veto, asked after retry_on matched: return false to give up.
    /// Lets a caller refuse, say, a retry of a non-idempotent request.
    std::function<bool(const std::error_code&, fault_class)> predicate;

    /// The decision after a failed attempt. Pure: the same inputs and random
    /// state give the same answer. Cancellation is never retried.
    retry_decision decide(const failed_attempt& attempt, random_source& random) const;
};

} // namespace keel
