// keel::budget_gate: the retry gate of one dependency's chain, made of its
// retry budget and its adaptive throttle (either may be absent), each
// shared by every pipeline of the dependency. A call is first put to the
// throttle (refused: errc::throttled_locally, no attempt, no deposit), then
// deposits in the budget; a retry withdraws from the budget (refused:
// errc::retry_budget_exhausted).
#pragma once

#include <keel/adaptive_throttle.hpp>
#include <keel/retry_budget.hpp>
#include <keel/strategy.hpp>

#include <memory>

namespace keel {

class budget_gate final : public retry_gate {
public:
    budget_gate(std::shared_ptr<retry_budget> budget, std::shared_ptr<adaptive_throttle> throttle);

    admission admit_call(clock_ticks now) noexcept override;
    admission may_retry(clock_ticks now, int next_attempt) noexcept override;
    void on_attempt_end(const attempt_record& attempt, bool retryable) noexcept override;
    void on_call_end(clock_ticks now, int attempts, std::error_code error,
                     fault_class fault) noexcept override;

    const std::shared_ptr<retry_budget>& budget() const noexcept { return budget_; }
    const std::shared_ptr<adaptive_throttle>& throttle() const noexcept { return throttle_; }

private:
    const std::shared_ptr<retry_budget> budget_;
    const std::shared_ptr<adaptive_throttle> throttle_;
};

} // namespace keel
