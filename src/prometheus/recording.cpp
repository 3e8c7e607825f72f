// Recording: which shard the calling thread writes, and dependency_metrics'
// events written into it (the hot path, all in this file so that it inlines;
// shards.hpp has the cells and why they are per thread).
#include <keel/prometheus/metrics.hpp>

#include "shards.hpp"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

namespace keel::prometheus {

namespace detail {
namespace {

// ---- which shard a thread writes -------------------------------------------------

/// A small index per live thread, reused after the thread exits: the next
/// thread to take it continues the same cells (the free list's mutex orders
/// the old thread's last stores before the new thread's first).
class thread_slots {
public:
    static thread_slots& instance() {
        static thread_slots slots;
        return slots;
    }
    int take() {
        std::lock_guard lock(mutex_);
        if (!free_.empty()) {
            const int index = free_.back();
            free_.pop_back();
            return index;
        }
        return next_ < max_shards ? next_++ : -1;
    }
    void give_back(int index) {
        if (index < 0)
            return;
        std::lock_guard lock(mutex_);
        free_.push_back(index);
    }

private:
    std::mutex mutex_;
    std::vector<int> free_;
    int next_ = 0;
};

/// The calling thread's slot: `unassigned` until its first event. A plain
/// int, so reading it costs no thread_local initialisation check.
constexpr int unassigned = -2;
thread_local int cached_slot = unassigned;

struct thread_slot {
    // Taken and returned through the singleton, which outlives every
    // thread_local of a thread that is not the main one.
    thread_slot() : slots(&thread_slots::instance()), index(slots->take()) {}
    ~thread_slot() {
        slots->give_back(index);
        cached_slot = -1; // anything recorded later by this thread: shared cells
    }
    thread_slots* slots;
    int index;
};

[[gnu::noinline]] int assign_slot() noexcept {
    thread_local thread_slot slot; // returns the index when the thread exits
    cached_slot = slot.index;
    return slot.index;
}

inline int this_thread_slot() noexcept {
    const int slot = cached_slot;
    if (slot != unassigned) [[likely]]
        return slot;
    return assign_slot();
}

} // namespace

inline dependency_handles::writer dependency_handles::for_this_thread() const noexcept {
    const int index = this_thread_slot();
    if (index < 0)
        return {shared_shard->cells, false};
    std::atomic<shard*>& slot = shards[static_cast<std::size_t>(index)];
    shard* s = slot.load(std::memory_order_acquire);
    if (!s) [[unlikely]] {
        // The first event of this thread for this dependency: the one
        // allocation. Only this thread stores into its slot.
        s = shard::make(layout.size).release();
        if (!s)
            return {shared_shard->cells, false};
        slot.store(s, std::memory_order_release);
    }
    return {s->cells, true};
}

} // namespace detail

// ---- dependency_metrics: the hot path -----------------------------------------------

using detail::cell_layout;

const std::string& dependency_metrics::dependency() const noexcept {
    return handles_->dependency;
}

void dependency_metrics::on(const events::call_start&) const noexcept {
    handles_->for_this_thread().add(cell_layout::started);
}

void dependency_metrics::on(const events::attempt_end& e) const noexcept {
    const detail::dependency_handles& h = *handles_;
    const auto w = h.for_this_thread();
    w.add(cell_layout::attempts + static_cast<std::size_t>(e.result));
    w.add(h.layout.attempt_buckets + h.bucket(h.attempt_bounds_ns, e.duration));
    w.add(h.layout.attempt_sum,
          static_cast<std::uint64_t>(std::max<std::int64_t>(e.duration.count(), 0)));
}

void dependency_metrics::on(const events::retry_scheduled& e) const noexcept {
    handles_->for_this_thread().add(cell_layout::retries + static_cast<std::size_t>(e.reason));
}

void dependency_metrics::on(const events::timeout& e) const noexcept {
    handles_->for_this_thread().add(cell_layout::timeouts + static_cast<std::size_t>(e.phase));
}

void dependency_metrics::on(const events::admission_wait& e) const noexcept {
    const detail::dependency_handles& h = *handles_;
    std::size_t buckets = 0;
    std::size_t sum = 0;
    switch (e.stage) {
    case admission_stage::bulkhead:
        buckets = h.layout.bulkhead_wait_buckets;
        sum = h.layout.bulkhead_wait_sum;
        break;
    case admission_stage::rate_limiter:
        buckets = h.layout.rate_limit_wait_buckets;
        sum = h.layout.rate_limit_wait_sum;
        break;
    case admission_stage::breaker: // no histogram: a breaker's refusals are counted
        return;
    }
    const auto w = h.for_this_thread();
    w.add(buckets + h.bucket(h.wait_bounds_ns, e.waited));
    w.add(sum, static_cast<std::uint64_t>(std::max<std::int64_t>(e.waited.count(), 0)));
}

void dependency_metrics::on(const events::hedges& e) const noexcept {
    const auto w = handles_->for_this_thread();
    const int won = e.won ? 1 : 0;
    if (won > 0)
        w.add(cell_layout::hedges + 0);
    if (e.started > won)
        w.add(cell_layout::hedges + 1, static_cast<std::uint64_t>(e.started - won));
    if (e.suppressed > 0)
        w.add(cell_layout::hedges + 2, static_cast<std::uint64_t>(e.suppressed));
}

void dependency_metrics::on(const events::call_end& e) const noexcept {
    const detail::dependency_handles& h = *handles_;
    const auto w = h.for_this_thread();
    w.add(cell_layout::calls + static_cast<std::size_t>(e.outcome));
    w.add(cell_layout::call_buckets + h.bucket(h.call_bounds_ns, e.duration));
    w.add(h.layout.call_sum,
          static_cast<std::uint64_t>(std::max<std::int64_t>(e.duration.count(), 0)));
    if (e.refusal) [[unlikely]] {
        if (const std::size_t i = detail::refusal_index(e.refusal); i < detail::refusal_count)
            w.add(cell_layout::rejections + i);
    }
    if (e.fallback_trigger) [[unlikely]]
        w.add(cell_layout::fallbacks +
              detail::fallback_index(*e.fallback_trigger, e.outcome == call_outcome::fallback));
    w.add(cell_layout::finished); // last: the collector reads it first
}

} // namespace keel::prometheus
