// keel::attempt: what the user's operation learns about the attempt it runs.
#pragma once

#include <keel/timeout.hpp>

#include <chrono>
#include <optional>

namespace keel {

/// Handed (by const reference) to the operation factory for each attempt. It
/// stays valid until that attempt completes, so a wrapper may keep it.
/// Wrappers push the deadlines into their client library (libcurl's connect
/// and total timeouts, libpq's connect loop); a coroutine can bound its own
/// connect phase with `async_with_deadline(ex, a.connect_deadline(), ...)`.
template <class Clock>
class basic_attempt {
public:
    using clock_type = Clock;
    using time_point = typename Clock::time_point;

    constexpr basic_attempt() noexcept = default;
    constexpr basic_attempt(int number, int max_attempts,
                            const attempt_deadlines<time_point>& deadlines) noexcept
        : number_(number), max_attempts_(max_attempts), deadlines_(deadlines) {}

    /// 1 for the first call, 2 for the first retry, ...
    constexpr int number() const noexcept { return number_; }
    constexpr int max_attempts() const noexcept { return max_attempts_; }
    /// No attempt follows this one, whatever it returns.
    constexpr bool is_last() const noexcept { return number_ >= max_attempts_; }

    /// time_point::max() means "no deadline".
    constexpr time_point connect_deadline() const noexcept { return deadlines_.connect; }
    constexpr time_point exchange_deadline() const noexcept { return deadlines_.exchange; }
    constexpr time_point total_deadline() const noexcept { return deadlines_.total; }

    /// Time left until `deadline`, never negative; nullopt when there is no
    /// deadline. What a wrapper puts into a library's millisecond setting.
    static std::optional<std::chrono::nanoseconds> time_left(time_point deadline,
                                                             time_point now = Clock::now()) {
        if (deadline == time_point::max())
            return std::nullopt;
        return deadline > now ? std::chrono::nanoseconds(deadline - now)
                              : std::chrono::nanoseconds(0);
    }

    /// Reports a server-advised delay (Retry-After, a throttle time) that
    /// replaces the computed backoff before the next attempt, capped by the
    /// policy's retry_after.max. Call it before completing the attempt.
    void advise_retry_after(std::chrono::nanoseconds delay) const noexcept { retry_after_ = delay; }
    std::optional<std::chrono::nanoseconds> retry_after() const noexcept { return retry_after_; }

    /// Says that this attempt must not be retried whatever its error, e.g. a
    /// POST that may have reached the server. The call then ends with this
    /// attempt's error (give_up_reason::not_retryable). Call it before
    /// completing the attempt.
    void forbid_retry() const noexcept { retry_forbidden_ = true; }
    bool retry_forbidden() const noexcept { return retry_forbidden_; }

private:
    int number_ = 1;
    int max_attempts_ = 1;
    attempt_deadlines<time_point> deadlines_{};
    // Written by the operation through a const reference: the hint is the
    // operation's answer to keel, not part of the attempt's identity.
    mutable std::optional<std::chrono::nanoseconds> retry_after_;
    mutable bool retry_forbidden_ = false;
};

using attempt = basic_attempt<std::chrono::steady_clock>;

} // namespace keel
