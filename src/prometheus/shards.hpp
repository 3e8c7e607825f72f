// One dependency's cells (each thread's shard of them) and the publisher
// that sums them into prometheus-cpp's metrics: what recording.cpp,
// publishing.cpp and metrics.cpp share. Private to src/prometheus.
//
// Why not increment prometheus-cpp's metrics directly: each Counter and Gauge
// change is a compare-and-swap loop on an atomic double and each Histogram
// observation takes a mutex, about a dozen atomic read-modify-writes per call
// (~80 ns on our 2-core VM, more under contention between threads). Here a
// call writes only cells of its thread's own shard with plain stores, and the
// sums go into the prometheus metrics when someone is about to read them.
#pragma once

#include <keel/error.hpp>
#include <keel/prometheus/metrics.hpp>

#include "budgets.hpp"
#include "bulkheads.hpp"
#include "circuits.hpp"
#include "faults.hpp"
#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

namespace keel::prometheus::detail {

/// Threads that get a shard of their own; the others share one and pay an
/// atomic add per cell.
inline constexpr int max_shards = 64;

/// keel's local refusals, in keel::errc order from circuit_open: the
/// `reason` label values of keel_rejections_total.
inline constexpr std::string_view refusal_names[] = {"circuit_open",           "bulkhead_full",
                                                     "bulkhead_timeout",       "rate_limited",
                                                     "retry_budget_exhausted", "throttled_locally"};
inline constexpr std::size_t refusal_count = std::size(refusal_names);
static_assert(static_cast<int>(errc::throttled_locally) - static_cast<int>(errc::circuit_open) +
                      1 ==
                  static_cast<int>(refusal_count),
              "keel::errc's refusals changed: name each in refusal_names, in order");

/// The index of `refusal` in refusal_names; refusal_count for a code that is
/// not one of keel's refusals (a strategy of the user's with its own code).
inline std::size_t refusal_index(const std::error_code& refusal) noexcept {
    const auto index =
        static_cast<std::size_t>(refusal.value() - static_cast<int>(errc::circuit_open));
    return refusal.category() == keel::error_category() && index < refusal_count ? index
                                                                                 : refusal_count;
}

// ---- one dependency's cells --------------------------------------------------------

/// Where each count lives in a shard: counters by label value, the started
/// and finished calls (their difference is the in-flight gauge), then each
/// histogram's buckets (non-cumulative, +Inf last) and its sum in nanoseconds:
/// call and attempt durations, then the bulkhead's and the rate limiter's
/// admission waits (the same bounds).
struct cell_layout {
    static constexpr std::size_t calls = 0;                              // 8 outcomes
    static constexpr std::size_t attempts = calls + 8;                   // 3 results
    static constexpr std::size_t retries = attempts + 3;                 // the fault classes
    static constexpr std::size_t timeouts = retries + fault_class_count; // 3 phases
    static constexpr std::size_t rejections = timeouts + 3;              // the refusals
    static constexpr std::size_t hedges = rejections + refusal_count;    // won, lost, suppressed
    static constexpr std::size_t fallbacks = hedges + 3; // + fallback_index(trigger, answered)
    static constexpr std::size_t started = fallbacks + 2 * fault_class_count;
    static constexpr std::size_t finished = started + 1;
    static constexpr std::size_t call_buckets = finished + 1;
    std::size_t call_sum;
    std::size_t attempt_buckets;
    std::size_t attempt_sum;
    std::size_t bulkhead_wait_buckets;
    std::size_t bulkhead_wait_sum;
    std::size_t rate_limit_wait_buckets;
    std::size_t rate_limit_wait_sum;
    std::size_t size;

    cell_layout(std::size_t call_bounds, std::size_t attempt_bounds, std::size_t wait_bounds)
        : call_sum(call_buckets + call_bounds + 1), attempt_buckets(call_sum + 1),
          attempt_sum(attempt_buckets + attempt_bounds + 1), bulkhead_wait_buckets(attempt_sum + 1),
          bulkhead_wait_sum(bulkhead_wait_buckets + wait_bounds + 1),
          rate_limit_wait_buckets(bulkhead_wait_sum + 1),
          rate_limit_wait_sum(rate_limit_wait_buckets + wait_bounds + 1),
          size(rate_limit_wait_sum + 1) {}
};

/// Where keel_fallbacks_total counts a fallback run for `trigger` (the
/// fault class of the call's error) that answered or failed, from
/// cell_layout::fallbacks: success and failure side by side for each trigger.
constexpr std::size_t fallback_index(fault_class trigger, bool answered) noexcept {
    return 2 * static_cast<std::size_t>(trigger) + (answered ? 0 : 1);
}

/// One thread's cells, on cache lines of their own (no false sharing with
/// another thread's).
class shard {
public:
    static constexpr std::size_t line = 64;

    /// Null when memory is exhausted (the caller falls back to shared cells).
    static std::unique_ptr<shard> make(std::size_t size) noexcept {
        auto made = std::unique_ptr<shard>(new (std::nothrow) shard());
        if (!made)
            return nullptr;
        const std::size_t bytes = (size * sizeof(cell) + line - 1) / line * line;
        void* memory = ::operator new (bytes, std::align_val_t{line}, std::nothrow);
        if (!memory)
            return nullptr;
        made->cells = static_cast<cell*>(memory);
        made->size_ = bytes / sizeof(cell);
        for (std::size_t i = 0; i < made->size_; ++i)
            new (&made->cells[i]) cell(0);
        return made;
    }
    ~shard() {
        if (cells)
            ::operator delete (cells, std::align_val_t{line});
    }
    shard(const shard&) = delete;
    shard& operator=(const shard&) = delete;

    using cell = std::atomic<std::uint64_t>;
    static_assert(std::is_trivially_destructible_v<cell>);
    cell* cells = nullptr;

private:
    shard() = default;
    std::size_t size_ = 0;
};

/// Every metric of one dependency: the prometheus handles, resolved once,
/// and the shards the hot path writes. The metrics live in the registry's
/// families, which live as long as the registry, which this keeps alive.
struct dependency_handles {
    std::shared_ptr<::prometheus::Registry> registry;
    std::string dependency;
    cell_layout layout{0, 0, 0};
    std::vector<std::int64_t> call_bounds_ns;    ///< the buckets' upper bounds
    std::vector<std::int64_t> attempt_bounds_ns; ///< ditto
    std::vector<std::int64_t> wait_bounds_ns;    ///< ditto, both admission waits
    /// Each thread's shard, made on its first event (mutable: recording
    /// through a const observer writes here).
    mutable std::array<std::atomic<shard*>, max_shards> shards{};
    /// For threads beyond max_shards, and when a shard cannot be allocated
    /// (atomic adds).
    std::unique_ptr<shard> shared_shard;

    std::array<::prometheus::Counter*, 8> calls{};
    std::array<::prometheus::Counter*, 3> attempts{};
    /// Cancelled calls are never retried, so that one stays null rather
    /// than show a series that can only be zero. Rejected has one: a policy
    /// may list it in retry_on, like permanent.
    std::array<::prometheus::Counter*, fault_class_count> retries{};
    std::array<::prometheus::Counter*, 3> timeouts{};
    std::array<::prometheus::Counter*, refusal_count> rejections{};
    std::array<::prometheus::Counter*, 3> hedges{}; ///< won, lost, suppressed
    /// By fallback_index().
    std::array<::prometheus::Counter*, 2 * fault_class_count> fallbacks{};
    ::prometheus::Histogram* call_duration = nullptr;
    ::prometheus::Histogram* attempt_duration = nullptr;
    ::prometheus::Histogram* bulkhead_wait = nullptr;
    ::prometheus::Histogram* rate_limit_wait = nullptr;
    ::prometheus::Gauge* inflight = nullptr;

    /// What was last published (guarded by the publisher's mutex).
    std::vector<std::uint64_t> published;

    /// The dependency's circuit breakers (metrics::watch), read when
    /// published at `clock()`.
    circuit_watch circuits;
    std::function<clock_ticks()> clock;
    /// The dependency's bulkhead (metrics::watch), read when published.
    bulkhead_watch bulkheads;
    /// The dependency's retry gate (metrics::watch), read when published.
    budget_watch budgets;
    fault_watch faults;

    dependency_handles(std::size_t call_bound_count, std::size_t attempt_bound_count,
                       std::size_t wait_bound_count)
        : layout(call_bound_count, attempt_bound_count, wait_bound_count),
          shared_shard(shard::make(layout.size)), published(layout.size, 0) {
        if (!shared_shard)
            throw std::bad_alloc();
    }

    ~dependency_handles() {
        for (auto& s : shards)
            delete s.load(std::memory_order_relaxed);
    }

    /// Adds `n` to `cell` of the calling thread's shard.
    struct writer {
        std::atomic<std::uint64_t>* cells;
        bool exclusive;
        void add(std::size_t cell, std::uint64_t n = 1) const noexcept {
            if (exclusive) // only this thread writes here: no read-modify-write
                cells[cell].store(cells[cell].load(std::memory_order_relaxed) + n,
                                  std::memory_order_release);
            else
                cells[cell].fetch_add(n, std::memory_order_release);
        }
    };

    /// The calling thread's shard, made on its first event. Defined in
    /// recording.cpp, next to the thread slots it reads and to every caller
    /// (inline, so the recording path calls no function for it).
    inline writer for_this_thread() const noexcept;

    static std::size_t bucket(const std::vector<std::int64_t>& bounds,
                              std::chrono::nanoseconds d) noexcept {
        // Prometheus buckets are `le`: a value equal to a bound counts in it.
        return static_cast<std::size_t>(std::lower_bound(bounds.begin(), bounds.end(), d.count()) -
                                        bounds.begin());
    }

    /// The sum of every shard's cells. Finished calls are read before started
    /// ones: a call's finish happens after its start, so the gauge never
    /// reads negative.
    std::vector<std::uint64_t> totals() const;

    /// Moves what was recorded since the last call into the prometheus
    /// metrics. The caller holds the publisher's mutex.
    void publish();
};

/// Publishes every dependency's counts. A Collectable that returns nothing,
/// so an exposer can run it just before the registry it feeds.
class publisher final : public ::prometheus::Collectable {
public:
    void add(std::weak_ptr<dependency_handles> handles);
    void publish();
    std::vector<::prometheus::MetricFamily> Collect() const override;

private:
    std::mutex mutex_;
    std::vector<std::weak_ptr<dependency_handles>> dependencies_;
};

/// The registry keel makes: publishes before every collection, so whoever
/// scrapes it (any exposer, a test) reads current counts.
class publishing_registry final : public ::prometheus::Registry {
public:
    explicit publishing_registry(std::shared_ptr<publisher> p) : publisher_(std::move(p)) {}
    std::vector<::prometheus::MetricFamily> Collect() const override;

private:
    std::shared_ptr<publisher> publisher_;
};

} // namespace keel::prometheus::detail
