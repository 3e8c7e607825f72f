// A dependency's fault plan as keel_faults_injected_total{dependency,kind}:
// the plan counts its injections itself, read when published, so a call pays
// nothing for the metric. Private to src/prometheus (dependency_handles in
// shards.hpp holds one).
#pragma once

#include <keel/fault_injection.hpp>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

namespace keel::prometheus::detail {

/// Where keel_faults_injected_total lives (registered once per metrics).
struct fault_families {
    ::prometheus::Family<::prometheus::Counter>* injected = nullptr;

    static fault_families registered(::prometheus::Registry& registry);
};

/// The newest fault plan of one dependency, held weakly, and its counters.
class fault_watch {
public:
    /// Watches `plan` from now on (a reload makes a new one, counting from 0).
    void add(const fault_families& families, const std::string& dependency,
             const std::shared_ptr<fault_plan>& plan);
    /// Adds what the plan injected since the last publish. The counters stay
    /// when the plan goes (a reload that drops the rules).
    void publish();

private:
    std::mutex mutex_; ///< add() against publish()
    fault_families families_;
    std::string dependency_;
    std::weak_ptr<fault_plan> plan_;
    const fault_plan* counted_ = nullptr;
    std::array<::prometheus::Counter*, fault_kind_count> injected_{};
    std::array<std::uint64_t, fault_kind_count> counted_injected_{};
};

} // namespace keel::prometheus::detail
