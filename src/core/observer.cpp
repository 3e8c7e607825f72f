#include <keel/observer.hpp>

namespace keel {

std::string_view to_string(call_outcome o) noexcept {
    switch (o) {
    case call_outcome::success:
        return "success";
    case call_outcome::success_after_retry:
        return "success_after_retry";
    case call_outcome::failure:
        return "failure";
    case call_outcome::failure_after_retry:
        return "failure_after_retry";
    case call_outcome::timeout:
        return "timeout";
    case call_outcome::cancelled:
        return "cancelled";
    case call_outcome::rejected:
        return "rejected";
    case call_outcome::fallback:
        return "fallback";
    }
    return "unknown";
}

std::string_view to_string(attempt_result r) noexcept {
    switch (r) {
    case attempt_result::success:
        return "success";
    case attempt_result::failure:
        return "failure";
    case attempt_result::timeout:
        return "timeout";
    }
    return "unknown";
}

std::string_view to_string(timeout_phase p) noexcept {
    switch (p) {
    case timeout_phase::connect:
        return "connect";
    case timeout_phase::exchange:
        return "exchange";
    case timeout_phase::total:
        return "total";
    }
    return "unknown";
}

std::string_view to_string(admission_stage s) noexcept {
    switch (s) {
    case admission_stage::breaker:
        return "breaker";
    case admission_stage::rate_limiter:
        return "rate_limiter";
    case admission_stage::bulkhead:
        return "bulkhead";
    }
    return "unknown";
}

} // namespace keel
