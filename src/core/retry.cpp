#include <keel/retry.hpp>

#include <algorithm>

namespace keel {

std::string_view to_string(give_up_reason r) noexcept {
    switch (r) {
    case give_up_reason::none:
        return "none";
    case give_up_reason::not_retryable:
        return "not_retryable";
    case give_up_reason::attempts_exhausted:
        return "attempts_exhausted";
    case give_up_reason::deadline:
        return "deadline";
    case give_up_reason::rejected:
        return "rejected";
    case give_up_reason::budget:
        return "budget";
    }
    return "unknown";
}

retry_decision retry_policy::decide(const failed_attempt& attempt, random_source& random) const {
    retry_decision out;
    if (attempt.fault == fault_class::cancelled || attempt.retry_forbidden ||
        !retry_on.contains(attempt.fault) ||
        (predicate && !predicate(attempt.error, attempt.fault))) {
        out.reason = give_up_reason::not_retryable;
        return out;
    }
    if (attempt.number >= max_attempts) {
        out.reason = give_up_reason::attempts_exhausted;
        return out;
    }
    if (retry_after.honor && attempt.retry_after) {
        out.delay = std::clamp(*attempt.retry_after, std::chrono::nanoseconds(0), retry_after.max);
        out.server_advised = true;
    } else {
        out.delay = backoff.delay(attempt.number, attempt.previous_delay, random);
    }
    if (!sleep_fits(out.delay, attempt.time_left)) {
        out.reason = give_up_reason::deadline;
        out.delay = std::chrono::nanoseconds(0);
        out.server_advised = false;
        return out;
    }
    out.retry = true;
    return out;
}

} // namespace keel
