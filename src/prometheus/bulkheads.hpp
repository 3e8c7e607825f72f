// The bulkhead of one dependency as gauges: attempts in flight, the limit and
// the waiters, read from the bulkhead when published, so an admission pays
// nothing for them. Private to src/prometheus (dependency_handles in
// shards.hpp holds one).
#pragma once

#include <keel/bulkhead.hpp>

#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

namespace keel::prometheus::detail {

/// Where the keel_bulkhead_* gauges live (registered once per metrics).
struct bulkhead_families {
    ::prometheus::Family<::prometheus::Gauge>* in_flight = nullptr;
    ::prometheus::Family<::prometheus::Gauge>* limit = nullptr;
    ::prometheus::Family<::prometheus::Gauge>* queued = nullptr;

    /// The families, registered in `registry` (or found there, when another
    /// keel::prometheus::metrics registered them).
    static bulkhead_families registered(::prometheus::Registry& registry);
};

/// What a bulkhead shows, or a dependency's bulkheads together.
struct bulkhead_reading {
    int in_flight = 0;
    int limit = 0;
    int queued = 0;
    friend bool operator==(const bulkhead_reading&, const bulkhead_reading&) = default;
};

/// A dependency has one bulkhead, but the one a reload replaced still holds
/// the attempts it admitted until they end: what the dependency really has
/// in flight (and waiting) is the sum over both, and its limit is the
/// newest's. `oldest_first`: the bulkheads in the order they were watched.
bulkhead_reading combine(std::span<const bulkhead_reading> oldest_first) noexcept;

/// The bulkheads of one dependency, held weakly, and their gauges.
class bulkhead_watch {
public:
    /// Watches `bulkhead` (once: a bulkhead already watched is left alone).
    void add(const bulkhead_families& families, const std::string& dependency,
             const std::shared_ptr<bulkhead>& bulkhead);

    /// Sets the gauges from the bulkheads still alive; when none is, removes
    /// them (no stale limit of a bulkhead a reload took away).
    void publish();

private:
    void set_gauges(); ///< the caller holds mutex_

    std::mutex mutex_; ///< add() against publish()
    bulkhead_families families_;
    std::vector<std::weak_ptr<bulkhead>> bulkheads_; ///< oldest first
    ::prometheus::Gauge* in_flight_ = nullptr; ///< null: no gauges (none watched, or all gone)
    ::prometheus::Gauge* limit_ = nullptr;
    ::prometheus::Gauge* queued_ = nullptr;
};

} // namespace keel::prometheus::detail
