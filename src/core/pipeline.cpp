#include <keel/duration.hpp>
#include <keel/pipeline.hpp>

#include <string>

namespace keel {

namespace {

void require(bool ok, const std::string& what) {
    if (!ok)
        throw std::invalid_argument("keel: invalid policy: " + what);
}

} // namespace

void validate(const pipeline_policy& policy) {
    const retry_policy& r = policy.retry;
    const timeout_policy& t = policy.timeout;
    const std::chrono::nanoseconds zero{0};
    require(r.max_attempts >= 1,
            "retry.max_attempts must be >= 1, got " + std::to_string(r.max_attempts));
    require(r.backoff.multiplier >= 1.0,
            "retry.backoff.multiplier must be >= 1, got " + std::to_string(r.backoff.multiplier));
    require(r.backoff.initial >= zero, "retry.backoff.initial must not be negative");
    require(r.backoff.step >= zero, "retry.backoff.step must not be negative");
    require(r.backoff.max >= zero, "retry.backoff.max must not be negative");
    require(r.retry_after.max >= zero, "retry.retry_after.max must not be negative");
    require(r.backoff.initial <= r.backoff.max,
            "retry.backoff.initial (" + format_duration(r.backoff.initial) +
                ") is longer than retry.backoff.max (" + format_duration(r.backoff.max) + ")");
    require(t.connect > zero, "timeout.connect must be positive");
    require(t.exchange > zero, "timeout.exchange must be positive");
    require(t.total > zero, "timeout.total must be positive");
    require(t.exchange == unlimited || t.exchange <= t.total,
            "timeout.exchange (" + format_duration(t.exchange) +
                ") is longer than timeout.total (" + format_duration(t.total) + ")");
    require(t.connect == unlimited || t.connect <= t.total,
            "timeout.connect (" + format_duration(t.connect) + ") is longer than timeout.total (" +
                format_duration(t.total) + ")");
}

} // namespace keel
