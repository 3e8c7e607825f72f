// Bulkheads as gauges: read when published, never on the admission path.
#include "bulkheads.hpp"

#include <algorithm>
#include <utility>

namespace keel::prometheus::detail {

bulkhead_families bulkhead_families::registered(::prometheus::Registry& registry) {
    bulkhead_families out;
    out.in_flight = &::prometheus::BuildGauge()
                         .Name("keel_bulkhead_in_flight")
                         .Help("Attempts holding a permit of the dependency's bulkhead.")
                         .Register(registry);
    out.limit = &::prometheus::BuildGauge()
                     .Name("keel_bulkhead_limit")
                     .Help("The bulkhead's limit of attempts in flight (fixed, or where an "
                           "adaptive limit stands now).")
                     .Register(registry);
    out.queued = &::prometheus::BuildGauge()
                      .Name("keel_bulkhead_queued")
                      .Help("Attempts waiting in the bulkhead's queue.")
                      .Register(registry);
    return out;
}

bulkhead_reading combine(std::span<const bulkhead_reading> oldest_first) noexcept {
    bulkhead_reading out;
    for (const bulkhead_reading& b : oldest_first) {
        out.in_flight += b.in_flight;
        out.queued += b.queued;
        out.limit = b.limit; // the newest's, the one that admits from now on
    }
    return out;
}

void bulkhead_watch::add(const bulkhead_families& families, const std::string& dependency,
                         const std::shared_ptr<bulkhead>& bulkhead) {
    std::lock_guard lock(mutex_);
    const bool watched = std::any_of(bulkheads_.begin(), bulkheads_.end(),
                                     [&](const auto& weak) { return weak.lock() == bulkhead; });
    if (watched)
        return;
    bulkheads_.push_back(bulkhead);
    if (!in_flight_) { // the first bulkhead, or the first since the last one went
        families_ = families;
        const ::prometheus::Labels labels{{"dependency", dependency}};
        in_flight_ = &families_.in_flight->Add(labels);
        limit_ = &families_.limit->Add(labels);
        queued_ = &families_.queued->Add(labels);
    }
    set_gauges(); // a scrape before the next publish sees the limit too
}

void bulkhead_watch::publish() {
    std::lock_guard lock(mutex_);
    if (in_flight_)
        set_gauges();
}

void bulkhead_watch::set_gauges() {
    std::vector<bulkhead_reading> readings;
    std::erase_if(bulkheads_, [&](const std::weak_ptr<bulkhead>& weak) {
        const std::shared_ptr<bulkhead> b = weak.lock();
        if (b)
            readings.push_back({b->in_flight(), b->limit(), b->queued()});
        return !b;
    });
    if (readings.empty()) { // every bulkhead of the dependency is gone
        families_.in_flight->Remove(std::exchange(in_flight_, nullptr));
        families_.limit->Remove(std::exchange(limit_, nullptr));
        families_.queued->Remove(std::exchange(queued_, nullptr));
        return;
    }
    const bulkhead_reading shown = combine(readings);
    in_flight_->Set(shown.in_flight);
    limit_->Set(shown.limit);
    queued_->Set(shown.queued);
}

} // namespace keel::prometheus::detail
