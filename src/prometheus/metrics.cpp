// Over 600 lines: one concern (record per thread, publish on scrape) whose
// cell layout, recording and publishing read the same structures.
// Per-thread recording, published into prometheus-cpp's metrics on demand.
//
// Why not increment prometheus-cpp's metrics directly: each Counter and Gauge
// change is a compare-and-swap loop on an atomic double and each Histogram
// observation takes a mutex, about a dozen atomic read-modify-writes per call
// (~80 ns on our 2-core VM, more under contention between threads). Here a
// call writes only cells of its thread's own shard with plain stores, and the
// sums go into the prometheus metrics when someone is about to read them.
#include <keel/prometheus/metrics.hpp>

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <new>
#include <stdexcept>
#include <thread>
#include <type_traits>

namespace keel::prometheus {

namespace detail {
namespace {

// ---- which shard a thread writes -------------------------------------------------

/// Threads that get a shard of their own; the others share one and pay an
/// atomic add per cell.
constexpr int max_shards = 64;

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

// ---- one dependency's cells --------------------------------------------------------

/// Where each count lives in a shard: counters by label value, the started
/// and finished calls (their difference is the in-flight gauge), then each
/// histogram's buckets (non-cumulative, +Inf last) and its sum in nanoseconds.
struct cell_layout {
    static constexpr std::size_t calls = 0;                              // 8 outcomes
    static constexpr std::size_t attempts = calls + 8;                   // 3 results
    static constexpr std::size_t retries = attempts + 3;                 // the fault classes
    static constexpr std::size_t timeouts = retries + fault_class_count; // 3 phases
    static constexpr std::size_t started = timeouts + 3;
    static constexpr std::size_t finished = started + 1;
    static constexpr std::size_t call_buckets = finished + 1;
    std::size_t call_sum;
    std::size_t attempt_buckets;
    std::size_t attempt_sum;
    std::size_t size;

    cell_layout(std::size_t call_bounds, std::size_t attempt_bounds)
        : call_sum(call_buckets + call_bounds + 1), attempt_buckets(call_sum + 1),
          attempt_sum(attempt_buckets + attempt_bounds + 1), size(attempt_sum + 1) {}
};

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
    cell_layout layout{0, 0};
    std::vector<std::int64_t> call_bounds_ns;    ///< the buckets' upper bounds
    std::vector<std::int64_t> attempt_bounds_ns; ///< ditto
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
    ::prometheus::Histogram* call_duration = nullptr;
    ::prometheus::Histogram* attempt_duration = nullptr;
    ::prometheus::Gauge* inflight = nullptr;

    /// What was last published (guarded by the publisher's mutex).
    std::vector<std::uint64_t> published;

    dependency_handles(std::size_t call_bound_count, std::size_t attempt_bound_count)
        : layout(call_bound_count, attempt_bound_count), shared_shard(shard::make(layout.size)),
          published(layout.size, 0) {
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

    writer for_this_thread() const noexcept {
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

    static std::size_t bucket(const std::vector<std::int64_t>& bounds,
                              std::chrono::nanoseconds d) noexcept {
        // Prometheus buckets are `le`: a value equal to a bound counts in it.
        return static_cast<std::size_t>(std::lower_bound(bounds.begin(), bounds.end(), d.count()) -
                                        bounds.begin());
    }

    /// The sum of every shard's cells. Finished calls are read before started
    /// ones: a call's finish happens after its start, so the gauge never
    /// reads negative.
    std::vector<std::uint64_t> totals() const {
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

    /// Moves what was recorded since the last call into the prometheus
    /// metrics. The caller holds the publisher's mutex.
    void publish() {
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
        const auto histogram = [&](::prometheus::Histogram* h, std::size_t first,
                                   std::size_t buckets, std::size_t sum) {
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
        histogram(call_duration, cell_layout::call_buckets, call_bounds_ns.size() + 1,
                  layout.call_sum);
        histogram(attempt_duration, layout.attempt_buckets, attempt_bounds_ns.size() + 1,
                  layout.attempt_sum);
        inflight->Set(static_cast<double>(now[cell_layout::started] - now[cell_layout::finished]));
        published = now;
    }
};

/// Publishes every dependency's counts. A Collectable that returns nothing,
/// so an exposer can run it just before the registry it feeds.
class publisher final : public ::prometheus::Collectable {
public:
    void add(std::weak_ptr<dependency_handles> handles) {
        std::lock_guard lock(mutex_);
        dependencies_.push_back(std::move(handles));
    }

    void publish() {
        std::lock_guard lock(mutex_);
        std::erase_if(dependencies_, [](const auto& weak) { return weak.expired(); });
        for (const auto& weak : dependencies_)
            if (auto handles = weak.lock())
                handles->publish();
    }

    std::vector<::prometheus::MetricFamily> Collect() const override {
        const_cast<publisher*>(this)->publish();
        return {};
    }

private:
    std::mutex mutex_;
    std::vector<std::weak_ptr<dependency_handles>> dependencies_;
};

/// The registry keel makes: publishes before every collection, so whoever
/// scrapes it (any exposer, a test) reads current counts.
class publishing_registry final : public ::prometheus::Registry {
public:
    explicit publishing_registry(std::shared_ptr<publisher> p) : publisher_(std::move(p)) {}
    std::vector<::prometheus::MetricFamily> Collect() const override {
        publisher_->publish();
        return Registry::Collect();
    }

private:
    std::shared_ptr<publisher> publisher_;
};

} // namespace detail

namespace {

constexpr call_outcome all_outcomes[] = {call_outcome::success,  call_outcome::success_after_retry,
                                         call_outcome::failure,  call_outcome::failure_after_retry,
                                         call_outcome::timeout,  call_outcome::cancelled,
                                         call_outcome::rejected, call_outcome::fallback};
constexpr attempt_result all_results[] = {attempt_result::success, attempt_result::failure,
                                          attempt_result::timeout};
constexpr fault_class retry_reasons[] = {fault_class::transient, fault_class::timeout,
                                         fault_class::throttled, fault_class::permanent,
                                         fault_class::rejected};
constexpr timeout_phase all_phases[] = {timeout_phase::connect, timeout_phase::exchange,
                                        timeout_phase::total};

void check_buckets(const std::vector<double>& bounds, const char* which) {
    const std::string name = which;
    if (bounds.empty())
        throw std::invalid_argument("keel::prometheus: " + name + " buckets are empty");
    for (std::size_t i = 0; i < bounds.size(); ++i) {
        if (!std::isfinite(bounds[i]) || bounds[i] <= 0)
            throw std::invalid_argument("keel::prometheus: " + name + " bucket " +
                                        std::to_string(i) + " is " + std::to_string(bounds[i]) +
                                        "; bounds must be positive and finite (seconds)");
        if (i > 0 && bounds[i] <= bounds[i - 1])
            throw std::invalid_argument("keel::prometheus: " + name +
                                        " buckets must be strictly increasing (bucket " +
                                        std::to_string(i) + ")");
    }
}

std::vector<std::int64_t> to_nanoseconds(const std::vector<double>& seconds) {
    std::vector<std::int64_t> out;
    for (double s : seconds)
        out.push_back(static_cast<std::int64_t>(std::llround(s * 1e9)));
    return out;
}

} // namespace

std::vector<double> default_duration_buckets() {
    return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

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

void dependency_metrics::on(const events::call_end& e) const noexcept {
    const detail::dependency_handles& h = *handles_;
    const auto w = h.for_this_thread();
    w.add(cell_layout::calls + static_cast<std::size_t>(e.outcome));
    w.add(cell_layout::call_buckets + h.bucket(h.call_bounds_ns, e.duration));
    w.add(h.layout.call_sum,
          static_cast<std::uint64_t>(std::max<std::int64_t>(e.duration.count(), 0)));
    w.add(cell_layout::finished); // last: the collector reads it first
}

// ---- metrics ----------------------------------------------------------------------

struct metrics::impl {
    std::shared_ptr<detail::publisher> publisher = std::make_shared<detail::publisher>();
    std::shared_ptr<::prometheus::Registry> registry;
    metrics_options options;
    ::prometheus::Family<::prometheus::Counter>* calls = nullptr;
    ::prometheus::Family<::prometheus::Counter>* attempts = nullptr;
    ::prometheus::Family<::prometheus::Counter>* retries = nullptr;
    ::prometheus::Family<::prometheus::Counter>* timeouts = nullptr;
    ::prometheus::Family<::prometheus::Histogram>* call_duration = nullptr;
    ::prometheus::Family<::prometheus::Histogram>* attempt_duration = nullptr;
    ::prometheus::Family<::prometheus::Gauge>* inflight = nullptr;
    ::prometheus::Counter* reload_success = nullptr;
    ::prometheus::Counter* reload_error = nullptr;

    std::mutex mutex; ///< guards dependencies (Family::Add locks its own)
    std::map<std::string, std::shared_ptr<detail::dependency_handles>, std::less<>> dependencies;

    std::shared_ptr<detail::dependency_handles> resolve(std::string_view name) {
        std::lock_guard lock(mutex);
        if (auto it = dependencies.find(name); it != dependencies.end())
            return it->second;
        auto made = std::make_shared<detail::dependency_handles>(
            options.call_duration_buckets.size(), options.attempt_duration_buckets.size());
        made->registry = registry;
        made->dependency = std::string(name);
        made->call_bounds_ns = to_nanoseconds(options.call_duration_buckets);
        made->attempt_bounds_ns = to_nanoseconds(options.attempt_duration_buckets);
        const std::string& dep = made->dependency;
        for (call_outcome o : all_outcomes)
            made->calls[static_cast<std::size_t>(o)] =
                &calls->Add({{"dependency", dep}, {"outcome", std::string(to_string(o))}});
        for (attempt_result r : all_results)
            made->attempts[static_cast<std::size_t>(r)] =
                &attempts->Add({{"dependency", dep}, {"result", std::string(to_string(r))}});
        for (fault_class f : retry_reasons)
            made->retries[static_cast<std::size_t>(f)] =
                &retries->Add({{"dependency", dep}, {"reason", std::string(to_string(f))}});
        for (timeout_phase p : all_phases)
            made->timeouts[static_cast<std::size_t>(p)] =
                &timeouts->Add({{"dependency", dep}, {"phase", std::string(to_string(p))}});
        made->call_duration =
            &call_duration->Add({{"dependency", dep}}, options.call_duration_buckets);
        made->attempt_duration =
            &attempt_duration->Add({{"dependency", dep}}, options.attempt_duration_buckets);
        made->inflight = &inflight->Add({{"dependency", dep}});
        publisher->add(made);
        dependencies.emplace(made->dependency, made);
        return made;
    }

    // The publishing thread, for a registry of the user's.
    std::mutex thread_mutex;
    std::condition_variable wake;
    bool stopping = false;
    std::thread publishing_thread;

    void start_publishing(std::chrono::milliseconds interval) {
        publishing_thread = std::thread([this, interval] {
            std::unique_lock lock(thread_mutex);
            while (!wake.wait_for(lock, interval, [this] { return stopping; })) {
                lock.unlock();
                publisher->publish();
                lock.lock();
            }
        });
    }

    ~impl() {
        if (publishing_thread.joinable()) {
            {
                std::lock_guard lock(thread_mutex);
                stopping = true;
            }
            wake.notify_all();
            publishing_thread.join();
        }
        publisher->publish(); // what the observers recorded until now
    }
};

metrics::metrics(metrics_options options) : impl_(std::make_shared<impl>()) {
    check_buckets(options.call_duration_buckets, "call duration");
    check_buckets(options.attempt_duration_buckets, "attempt duration");
    impl_->registry = std::make_shared<detail::publishing_registry>(impl_->publisher);
    impl_->options = std::move(options);
    register_families();
}

metrics::metrics(std::shared_ptr<::prometheus::Registry> registry, metrics_options options)
    : impl_(std::make_shared<impl>()) {
    if (!registry)
        throw std::invalid_argument("keel::prometheus: the registry is null");
    check_buckets(options.call_duration_buckets, "call duration");
    check_buckets(options.attempt_duration_buckets, "attempt duration");
    impl_->registry = std::move(registry);
    impl_->options = std::move(options);
    register_families();
    if (impl_->options.publish_interval > std::chrono::milliseconds::zero())
        impl_->start_publishing(impl_->options.publish_interval);
}

void metrics::register_families() {
    impl& m = *impl_;
    ::prometheus::Registry& r = *m.registry;
    using ::prometheus::BuildCounter;
    m.calls = &BuildCounter()
                   .Name("keel_calls_total")
                   .Help("Calls made through keel pipelines, by how they ended.")
                   .Register(r);
    m.attempts = &BuildCounter()
                      .Name("keel_attempts_total")
                      .Help("Attempts made by keel pipelines (the first try and every retry), "
                            "by how they ended.")
                      .Register(r);
    m.retries = &BuildCounter()
                     .Name("keel_retries_total")
                     .Help("Retries scheduled by keel pipelines, by the fault class of the "
                           "failure that caused them.")
                     .Register(r);
    m.timeouts = &BuildCounter()
                      .Name("keel_timeouts_total")
                      .Help("Deadlines that cut a keel attempt short, by phase (connect, "
                            "exchange, total).")
                      .Register(r);
    m.call_duration = &::prometheus::BuildHistogram()
                           .Name("keel_call_duration_seconds")
                           .Help("Duration of keel calls, every attempt and backoff included.")
                           .Register(r);
    m.attempt_duration = &::prometheus::BuildHistogram()
                              .Name("keel_attempt_duration_seconds")
                              .Help("Duration of single attempts made by keel pipelines.")
                              .Register(r);
    m.inflight = &::prometheus::BuildGauge()
                      .Name("keel_inflight_calls")
                      .Help("Calls started through keel pipelines and not yet finished.")
                      .Register(r);
    auto& reloads = BuildCounter()
                        .Name("keel_config_reloads_total")
                        .Help("Configuration reloads, by result (an error keeps the running "
                              "policies).")
                        .Register(r);
    m.reload_success = &reloads.Add({{"result", "success"}});
    m.reload_error = &reloads.Add({{"result", "error"}});
}

metrics::~metrics() = default;

const std::shared_ptr<::prometheus::Registry>& metrics::registry() const noexcept {
    return impl_->registry;
}

dependency_metrics metrics::dependency(std::string_view name) {
    return dependency_metrics(impl_->resolve(name));
}

void metrics::publish() const {
    impl_->publisher->publish();
}

std::weak_ptr<::prometheus::Collectable> metrics::publishing_hook() const {
    return impl_->publisher;
}

namespace {

/// dependency_metrics behind keel::observer's virtual interface.
class runtime_observer final : public keel::observer {
public:
    explicit runtime_observer(dependency_metrics target) noexcept : target_(std::move(target)) {}
    void on(const events::call_start& e) override { target_.on(e); }
    void on(const events::attempt_start& e) override { target_.on(e); }
    void on(const events::attempt_end& e) override { target_.on(e); }
    void on(const events::retry_scheduled& e) override { target_.on(e); }
    void on(const events::timeout& e) override { target_.on(e); }
    void on(const events::call_end& e) override { target_.on(e); }

private:
    dependency_metrics target_;
};

} // namespace

std::shared_ptr<keel::observer> metrics::observer_for(std::string_view name) {
    return std::make_shared<runtime_observer>(dependency(name));
}

std::function<std::shared_ptr<keel::observer>(std::string_view)> metrics::observer_factory() {
    return [state = impl_](std::string_view name) -> std::shared_ptr<keel::observer> {
        return std::make_shared<runtime_observer>(dependency_metrics(state->resolve(name)));
    };
}

void metrics::count_reload(bool success) noexcept {
    (success ? impl_->reload_success : impl_->reload_error)->Increment();
}

std::function<void(bool)> metrics::reload_counter() {
    return [state = impl_](bool success) {
        (success ? state->reload_success : state->reload_error)->Increment();
    };
}

} // namespace keel::prometheus
