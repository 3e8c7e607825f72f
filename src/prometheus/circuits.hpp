// The circuit breakers of one dependency as metrics: their transitions
// counted as they happen, their state and failure ratio read when published.
// Private to src/prometheus (dependency_handles in shards.hpp holds one).
#pragma once

#include <keel/circuit_breaker.hpp>
#include <keel/endpoint_circuit_breakers.hpp>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <array>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

namespace keel::prometheus::detail {

/// Where the keel_circuit_* series live (registered once per metrics).
struct circuit_families {
    ::prometheus::Family<::prometheus::Gauge>* state = nullptr;
    ::prometheus::Family<::prometheus::Gauge>* failure_ratio = nullptr;
    ::prometheus::Family<::prometheus::Counter>* transitions = nullptr;
};

/// What one dependency's breakers show together: the worst state (open >
/// half_open > closed) and the highest failure ratio, so the endpoint
/// nearest to opening is the one seen. Closed and 0 when there are none.
struct circuit_reading {
    circuit_state state = circuit_state::closed;
    double failure_ratio = 0.0;
};
circuit_reading aggregate(std::span<const circuit_snapshot> breakers) noexcept;

/// What the breakers of a dependency with `scope: endpoint` show together:
/// how many endpoints are in each state (by circuit_state) and the highest
/// failure ratio. No label per endpoint: their number is unbounded.
struct circuit_tally {
    std::array<int, 3> in_state{};
    double failure_ratio = 0.0;
};
circuit_tally tally(std::span<const endpoint_circuit_snapshot> endpoints) noexcept;

/// keel_circuit_transitions_total of one dependency, which every breaker of
/// it counts into. The transitions a breaker can make exist at zero from the
/// start, so an alert's increase() sees the first opening.
class transition_counter {
public:
    transition_counter(std::shared_ptr<::prometheus::Registry> registry,
                       ::prometheus::Family<::prometheus::Counter>& family, std::string dependency);

    /// Called by the breaker after a transition, on the thread that made it:
    /// an atomic add, or (for a reason this does not know) a lookup in the
    /// family.
    void count(const circuit_transition& t) const noexcept;

private:
    ::prometheus::Counter& series(circuit_state from, circuit_state to,
                                  std::string_view reason) const;

    struct known {
        circuit_state from;
        circuit_state to;
        std::string_view reason;
        ::prometheus::Counter* counter;
    };
    std::shared_ptr<::prometheus::Registry> registry_; ///< the family lives in it
    ::prometheus::Family<::prometheus::Counter>* family_;
    std::string dependency_;
    std::vector<known> known_;
};

/// The breakers of one dependency, held weakly, and their gauges.
class circuit_watch {
public:
    /// Watches `breaker` (once: a breaker already watched is left alone).
    void add(const circuit_families& families,
             const std::shared_ptr<::prometheus::Registry>& registry, const std::string& dependency,
             const std::shared_ptr<circuit_breaker>& breaker);
    /// Watches `breakers`, the endpoint set of a dependency with `scope:
    /// endpoint` (once). The gauges then count its endpoints per state.
    void add(const circuit_families& families,
             const std::shared_ptr<::prometheus::Registry>& registry, const std::string& dependency,
             const std::shared_ptr<endpoint_circuit_breakers>& breakers);

    /// Sets the gauges from the snapshots at `now()` of the breakers still
    /// alive; when none is, removes them. Reads no clock without breakers.
    template <class Now>
    void publish(Now&& now) {
        std::lock_guard lock(mutex_);
        if (breakers_.empty() && sets_.empty())
            return;
        set_gauges(now());
    }

private:
    /// The gauges and the transition counter, on the first add; true when
    /// the gauges were made now.
    bool start(const circuit_families& families,
               const std::shared_ptr<::prometheus::Registry>& registry,
               const std::string& dependency);
    void set_gauges(clock_ticks now);

    std::mutex mutex_; ///< watch() against publish()
    circuit_families families_;
    std::vector<std::weak_ptr<circuit_breaker>> breakers_;
    /// Endpoint sets; the newest alive one is shown (a reload's new set
    /// took over its predecessor's endpoints).
    std::vector<std::weak_ptr<endpoint_circuit_breakers>> sets_;
    bool per_endpoint_ = false; ///< the last one watched was an endpoint set
    std::shared_ptr<const transition_counter> transitions_;
    std::array<::prometheus::Gauge*, 3> state_{}; ///< by circuit_state
    ::prometheus::Gauge* failure_ratio_ = nullptr;
};

} // namespace keel::prometheus::detail
