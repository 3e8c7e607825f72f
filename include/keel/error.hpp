// keel's own error codes and the conditions callers compare against.
#pragma once

#include <system_error>

namespace keel {

/// Errors keel itself produces. Every other error a call reports is the
/// operation's own (the last real error after retries).
enum class errc {
    /// A deadline given to `async_with_timeout`/`async_with_deadline` expired.
    timeout = 1,
    /// The attempt's connect deadline expired (reported by wrappers that know
    /// their connect phase, or by `async_with_deadline(..., errc::connect_timeout)`).
    connect_timeout,
    /// The attempt's exchange deadline (the per-attempt timeout) expired.
    exchange_timeout,
    /// The call's total deadline expired while an attempt was running.
    deadline_exceeded,

    // Local refusals: keel refused to start an attempt. Each matches
    // condition::rejected and has fault class `rejected`; call_report
    // carries a retry-after where the refusing strategy knows one.

    /// The dependency's circuit breaker is open (or half-open and full).
    circuit_open,
    /// The bulkhead has no free permit and no room to wait.
    bulkhead_full,
    /// The bulkhead's wait for a permit ran out.
    bulkhead_timeout,
    /// The rate limiter has no permit for now.
    rate_limited,
    /// The retry budget does not allow another retry or hedge.
    retry_budget_exhausted,
    /// Client-side adaptive throttling refused the call locally.
    throttled_locally,
};

/// Conditions for `ec == keel::condition::timeout`-style checks.
enum class condition {
    /// Any timeout: keel's four codes above, and the system's ETIMEDOUT.
    timeout = 1,
    /// The operation was cancelled (operation_aborted / ECANCELED).
    cancelled,
    /// keel refused the call locally (every local refusal in keel::errc).
    rejected,
};

const std::error_category& error_category() noexcept;
const std::error_category& condition_category() noexcept;

namespace detail {
/// `ec`, with errno values in Asio's "asio.system" category moved to
/// std::system_category() so they compare equal to std::errc conditions.
std::error_code portable(const std::error_code& ec) noexcept;
} // namespace detail

inline std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), error_category()};
}

inline std::error_condition make_error_condition(condition c) noexcept {
    return {static_cast<int>(c), condition_category()};
}

} // namespace keel

template <>
struct std::is_error_code_enum<keel::errc> : std::true_type {};

template <>
struct std::is_error_condition_enum<keel::condition> : std::true_type {};
