// Retry budgets and adaptive throttles as metrics: read when published,
// never on a call's path.
#include "budgets.hpp"

#include <utility>

namespace keel::prometheus::detail {

budget_families budget_families::registered(::prometheus::Registry& registry) {
    budget_families out;
    out.available = &::prometheus::BuildGauge()
                         .Name("keel_retry_budget_available")
                         .Help("Retries the dependency's retry budget allows now (kind ratio), "
                               "or the tokens in its bucket (kind tokens).")
                         .Register(registry);
    out.denied = &::prometheus::BuildCounter()
                      .Name("keel_retries_denied_total")
                      .Help("Retries the dependency's retry budget refused.")
                      .Register(registry);
    out.rejection_ratio = &::prometheus::BuildGauge()
                               .Name("keel_throttle_rejection_ratio")
                               .Help("The probability that adaptive throttling refuses a new "
                                     "call of the dependency now.")
                               .Register(registry);
    return out;
}

void budget_watch::add(const budget_families& families, const std::string& dependency,
                       const std::shared_ptr<budget_gate>& gate) {
    std::lock_guard lock(mutex_);
    families_ = families;
    dependency_ = dependency;
    gate_ = gate;
}

void budget_watch::publish(const std::function<clock_ticks()>& clock) {
    std::lock_guard lock(mutex_);
    if (families_.available)
        set(clock());
}

void budget_watch::set(clock_ticks now) {
    const std::shared_ptr<budget_gate> gate = gate_.lock();
    const retry_budget* budget = gate ? gate->budget().get() : nullptr;
    const adaptive_throttle* throttle = gate ? gate->throttle().get() : nullptr;
    const ::prometheus::Labels labels{{"dependency", dependency_}};
    if (budget) {
        if (!available_)
            available_ = &families_.available->Add(labels);
        available_->Set(budget->available(now));
        if (!denied_)
            denied_ = &families_.denied->Add(labels);
        if (counted_ != budget) { // a new budget counts from 0
            counted_ = budget;
            counted_denied_ = 0;
        }
        const std::uint64_t denied = budget->denied();
        denied_->Increment(static_cast<double>(denied - counted_denied_));
        counted_denied_ = denied;
    } else if (available_) {
        families_.available->Remove(std::exchange(available_, nullptr));
        counted_ = nullptr;
    }
    if (throttle) {
        if (!ratio_)
            ratio_ = &families_.rejection_ratio->Add(labels);
        ratio_->Set(gate->throttle()->probability(now));
    } else if (ratio_) {
        families_.rejection_ratio->Remove(std::exchange(ratio_, nullptr));
    }
}

} // namespace keel::prometheus::detail
