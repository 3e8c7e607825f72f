// Publishing: every shard's cells summed and moved into prometheus-cpp's
// metrics when someone is about to read them (on scrape, by the publishing
// thread, or on metrics::publish()). Not on the recording path.
#include "shards.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace keel::prometheus::detail {

std::vector<std::uint64_t> dependency_handles::totals() const {
    std::vector<std::uint64_t> sum(layout.size, 0);
    const auto add_from = [&](const shard& s, std::size_t first, std::size_t last) {
        for (std::size_t i = first; i < last; ++i)
            sum[i] += s.cells[i].load(std::memory_order_acquire);
    };
    const auto each_shard = [&](auto f) {
        f(*shared_shard);
        for (const auto& slot : shards)
            if (const shard* s = slot.load(std::memory_order_acquire))
                f(*s);
    };
    each_shard([&](const shard& s) { add_from(s, cell_layout::finished, layout.size); });
    each_shard([&](const shard& s) { add_from(s, 0, cell_layout::finished); });
    return sum;
}

void dependency_handles::publish() {
    const std::vector<std::uint64_t> now = totals();
    const auto delta = [&](std::size_t cell) { return now[cell] - published[cell]; };
    const auto counters = [&](auto& handles, std::size_t first) {
        for (std::size_t i = 0; i < handles.size(); ++i)
            if (handles[i] && delta(first + i) > 0)
                handles[i]->Increment(static_cast<double>(delta(first + i)));
    };
    counters(calls, cell_layout::calls);
    counters(attempts, cell_layout::attempts);
    counters(retries, cell_layout::retries);
    counters(timeouts, cell_layout::timeouts);
    counters(rejections, cell_layout::rejections);
    counters(hedges, cell_layout::hedges);
    counters(fallbacks, cell_layout::fallbacks);
    const auto histogram = [&](::prometheus::Histogram* h, std::size_t first, std::size_t buckets,
                               std::size_t sum) {
        // A sum moved without any bucket is published too: a scrape
        // that ran between a thread's bucket add and its sum add took
        // the count then, and its sum comes now (skipping it lost that
        // observation's duration for good).
        std::vector<double> increments(buckets);
        bool any = delta(sum) > 0;
        for (std::size_t i = 0; i < buckets; ++i) {
            increments[i] = static_cast<double>(delta(first + i));
            any = any || increments[i] > 0;
        }
        if (any)
            h->ObserveMultiple(increments, static_cast<double>(delta(sum)) * 1e-9);
    };
    histogram(call_duration, cell_layout::call_buckets, call_bounds_ns.size() + 1, layout.call_sum);
    histogram(attempt_duration, layout.attempt_buckets, attempt_bounds_ns.size() + 1,
              layout.attempt_sum);
    histogram(bulkhead_wait, layout.bulkhead_wait_buckets, wait_bounds_ns.size() + 1,
              layout.bulkhead_wait_sum);
    histogram(rate_limit_wait, layout.rate_limit_wait_buckets, wait_bounds_ns.size() + 1,
              layout.rate_limit_wait_sum);
    inflight->Set(static_cast<double>(now[cell_layout::started] - now[cell_layout::finished]));
    published = now;
    circuits.publish(clock);
    bulkheads.publish();
    budgets.publish(clock);
    faults.publish();
}

void publisher::add(std::weak_ptr<dependency_handles> handles) {
    std::lock_guard lock(mutex_);
    dependencies_.push_back(std::move(handles));
}

void publisher::publish() {
    std::lock_guard lock(mutex_);
    std::erase_if(dependencies_, [](const auto& weak) { return weak.expired(); });
    for (const auto& weak : dependencies_)
        if (auto handles = weak.lock())
            handles->publish();
}

std::vector<::prometheus::MetricFamily> publisher::Collect() const {
    const_cast<publisher*>(this)->publish();
    return {};
}

std::vector<::prometheus::MetricFamily> publishing_registry::Collect() const {
    publisher_->publish();
    return Registry::Collect();
}

} // namespace keel::prometheus::detail
