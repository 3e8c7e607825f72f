// keel::attempt_feedback: what an operation tells keel about the attempt it
// just ran, besides its error code.
#pragma once

#include <chrono>
#include <optional>

namespace keel {

/// Filled in by the operation before it completes an attempt; the retry and
/// hedging decisions read it. Reached through `attempt.feedback()`: it lives
/// in the call's state, one per attempt, and is reset when an attempt starts.
class attempt_feedback {
public:
    /// A server-advised delay (Retry-After, a throttle time) that replaces
    /// the computed backoff before the next attempt, capped by the policy's
    /// retry_after.max.
    void retry_after(std::chrono::nanoseconds delay) noexcept { retry_after_ = delay; }

    /// This attempt must not be repeated whatever its error: the call ends
    /// with it (give_up_reason::not_retryable).
    void do_not_retry() noexcept { no_retry_ = true; }

    /// The request may have been applied although the attempt failed (a
    /// COMMIT whose answer was lost, a POST that may have reached the server)
    /// and repeating it is not known to be safe. keel never repeats such an
    /// attempt -- no retry, no hedge -- and says so in call_report. A wrapper
    /// that knows the request is idempotent does not report it.
    void outcome_unknown() noexcept { outcome_unknown_ = true; }

    std::optional<std::chrono::nanoseconds> advised_delay() const noexcept { return retry_after_; }
    bool retry_forbidden() const noexcept { return no_retry_ || outcome_unknown_; }
    bool is_outcome_unknown() const noexcept { return outcome_unknown_; }

    void reset() noexcept { *this = attempt_feedback(); }

private:
    std::optional<std::chrono::nanoseconds> retry_after_;
    bool no_retry_ = false;
    bool outcome_unknown_ = false;
};

} // namespace keel
