#include <keel/budget_gate.hpp>

#include <utility>

namespace keel {

budget_gate::budget_gate(std::shared_ptr<retry_budget> budget,
                         std::shared_ptr<adaptive_throttle> throttle)
    : budget_(std::move(budget)), throttle_(std::move(throttle)) {
    // The ratio kind needs no attempt's end: a call without a throttle
    // then costs one virtual call at its start and none after.
    set_hearing(budget_ && budget_->settings().kind == retry_budget_settings::budget_kind::tokens,
                throttle_ != nullptr);
    set_refusal_reason(give_up_reason::budget);
    // Adaptive throttling refuses before the breaker and counts every call;
    // a budget alone may miss the calls an open breaker refuses.
    set_hears_every_call(throttle_ != nullptr);
}

admission budget_gate::admit_call(clock_ticks now) noexcept {
    if (throttle_ && throttle_->refuse_call(now))
        return admission::reject(errc::throttled_locally);
    if (budget_)
        budget_->deposit(now);
    return admission::admit();
}

admission budget_gate::may_retry(clock_ticks now, int /*next_attempt*/) noexcept {
    if (budget_ && !budget_->try_withdraw(now))
        return admission::reject(errc::retry_budget_exhausted);
    return admission::admit();
}

void budget_gate::on_attempt_end(const attempt_record& attempt, bool retryable) noexcept {
    if (budget_)
        budget_->on_attempt_end(attempt.result, retryable);
}

void budget_gate::on_call_end(clock_ticks now, int attempts, std::error_code error,
                              fault_class fault) noexcept {
    // A call refused locally (no attempt) was not answered by the dependency.
    if (throttle_)
        throttle_->on_call_end(now, attempts > 0 && answered(static_cast<bool>(error), fault));
}

} // namespace keel
