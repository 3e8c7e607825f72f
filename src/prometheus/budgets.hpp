// The retry gate of one dependency (its retry budget and adaptive throttle)
// as metrics: the retries or tokens available, the retries refused, the
// throttle's refusal probability, read from the gate when published, so a
// call pays nothing for them. Private to src/prometheus (dependency_handles
// in shards.hpp holds one).
#pragma once

#include <keel/budget_gate.hpp>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

namespace keel::prometheus::detail {

/// Where keel_retry_budget_available, keel_retries_denied_total and
/// keel_throttle_rejection_ratio live (registered once per metrics).
struct budget_families {
    ::prometheus::Family<::prometheus::Gauge>* available = nullptr;
    ::prometheus::Family<::prometheus::Counter>* denied = nullptr;
    ::prometheus::Family<::prometheus::Gauge>* rejection_ratio = nullptr;

    static budget_families registered(::prometheus::Registry& registry);
};

/// The newest retry gate of one dependency, held weakly, and its metrics.
class budget_watch {
public:
    /// Watches `gate` from now on (the dependency's newest).
    void add(const budget_families& families, const std::string& dependency,
             const std::shared_ptr<budget_gate>& gate);
    /// Sets the metrics from the gate at `clock()`; when it is gone (or has
    /// no budget, no throttle), removes its gauges. The counter stays.
    void publish(const std::function<clock_ticks()>& clock);

private:
    void set(clock_ticks now); ///< the caller holds mutex_

    std::mutex mutex_; ///< add() against publish()
    budget_families families_;
    std::string dependency_;
    std::weak_ptr<budget_gate> gate_;
    ::prometheus::Gauge* available_ = nullptr;
    ::prometheus::Counter* denied_ = nullptr;
    ::prometheus::Gauge* ratio_ = nullptr;
    /// The budget whose refusals the counter has counted, and how many.
    const retry_budget* counted_ = nullptr;
    std::uint64_t counted_denied_ = 0;
};

} // namespace keel::prometheus::detail
