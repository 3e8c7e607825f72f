// keel::attempt_feedback: what an operation tells keel about the attempt it
// just ran, besides its error code.
#pragma once

#include <chrono>
#include <optional>

namespace keel {

/// What a wrapper knows about a failed attempt's request, for
/// must_not_repeat().
struct failed_request {
    /// Some of the request may have reached the server (it was sent, or
    /// sending had begun).
    bool may_have_reached = false;
    /// The failure does not say whether the server applied it (the
    /// connection broke, keel gave up waiting, a COMMIT's answer was lost,
    /// an HTTP error status, which says nothing of side effects).
    bool verdict_unknown = false;
    /// Applying the request twice is known to be safe.
    bool idempotent = false;
};

/// The one rule every keel wrapper applies before it completes a failed
/// attempt: a request that may have been applied -- it may have reached the
/// server and the failure does not say whether the server applied it -- and
/// is not idempotent must not be repeated (attempt_feedback::outcome_unknown).
constexpr bool must_not_repeat(const failed_request& r) noexcept {
    return r.may_have_reached && r.verdict_unknown && !r.idempotent;
}

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
    /// outcome_unknown() when must_not_repeat(`r`).
    void outcome_unknown_if(const failed_request& r) noexcept {
        if (must_not_repeat(r))
            outcome_unknown_ = true;
    }

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
