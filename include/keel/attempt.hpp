// keel::attempt: what the user's operation learns about the attempt it runs.
#pragma once

#include <keel/attempt_feedback.hpp>
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
                            const attempt_deadlines<time_point>& deadlines,
                            attempt_feedback* feedback = nullptr) noexcept
        : number_(number), max_attempts_(max_attempts), deadlines_(deadlines), feedback_(feedback) {
    }

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

    /// Where the operation answers keel: a server-advised delay, "do not
    /// retry", "outcome unknown". Fill it in before completing the attempt.
    /// An attempt made outside a call (default constructed) has none: check
    /// has_feedback() first there.
    attempt_feedback& feedback() const noexcept { return *feedback_; }
    bool has_feedback() const noexcept { return feedback_ != nullptr; }

private:
    int number_ = 1;
    int max_attempts_ = 1;
    attempt_deadlines<time_point> deadlines_{};
    // The call's record of this attempt's answer: the attempt is a view of
    // the call, so the operation writes to the call's state, not to itself.
    attempt_feedback* feedback_ = nullptr;
};

using attempt = basic_attempt<std::chrono::steady_clock>;

} // namespace keel
