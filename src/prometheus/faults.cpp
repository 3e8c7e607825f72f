#include "faults.hpp"

namespace keel::prometheus::detail {

fault_families fault_families::registered(::prometheus::Registry& registry) {
    fault_families out;
    out.injected = &::prometheus::BuildCounter()
                        .Name("keel_faults_injected_total")
                        .Help("Faults injected into the dependency's calls by its fault rules "
                              "(latency, error, hang): deliberate, for rehearsing outages.")
                        .Register(registry);
    return out;
}

void fault_watch::add(const fault_families& families, const std::string& dependency,
                      const std::shared_ptr<fault_plan>& plan) {
    std::lock_guard lock(mutex_);
    families_ = families;
    dependency_ = dependency;
    plan_ = plan;
    // Every kind from the first scrape, at zero: rate() misses no increment.
    for (int k = 0; k < fault_kind_count; ++k)
        if (!injected_[k])
            injected_[k] = &families_.injected->Add(
                {{"dependency", dependency_},
                 {"kind", std::string(to_string(static_cast<fault_kind>(k)))}});
}

void fault_watch::publish() {
    std::lock_guard lock(mutex_);
    const std::shared_ptr<fault_plan> plan = plan_.lock();
    if (!plan)
        return;
    if (counted_ != plan.get()) { // a new plan counts from 0
        counted_ = plan.get();
        counted_injected_.fill(0);
    }
    for (int k = 0; k < fault_kind_count; ++k) {
        const std::uint64_t now = plan->injected(static_cast<fault_kind>(k));
        injected_[k]->Increment(static_cast<double>(now - counted_injected_[k]));
        counted_injected_[k] = now;
    }
}

} // namespace keel::prometheus::detail
