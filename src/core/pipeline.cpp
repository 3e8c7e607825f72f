#include <keel/pipeline.hpp>

#include <string>

namespace keel {

namespace {

std::string millis(std::chrono::nanoseconds d) {
    return std::to_string(std::chrono::duration<double, std::milli>(d).count()) + "ms";
}

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
    require(t.connect > zero, "timeout.connect must be positive");
    require(t.exchange > zero, "timeout.exchange must be positive");
    require(t.total > zero, "timeout.total must be positive");
    require(t.exchange == unlimited || t.exchange <= t.total,
            "timeout.exchange (" + millis(t.exchange) + ") is longer than timeout.total (" +
                millis(t.total) + ")");
    require(t.connect == unlimited || t.connect <= t.total,
            "timeout.connect (" + millis(t.connect) + ") is longer than timeout.total (" +
                millis(t.total) + ")");
}

} // namespace keel
