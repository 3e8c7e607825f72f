// keel::prometheus: every pipeline's calls, attempts, retries and timeouts as
// Prometheus metrics (docs/metrics.md names each one).
#pragma once

#include <keel/fault_injection.hpp>
#include <keel/observer.hpp>
#include <keel/strategy.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace prometheus {
class Collectable;
class Registry;
} // namespace prometheus

namespace keel {
class budget_gate;
class bulkhead;
class circuit_breaker;
class endpoint_circuit_breakers;
} // namespace keel

namespace keel::prometheus {

/// keel's default histogram buckets, in seconds: 1ms to 10s, roughly x2.5
/// apart (Prometheus's own defaults with 1ms and 2.5ms added below, because
/// a healthy dependency answers in a few milliseconds).
std::vector<double> default_duration_buckets();

/// keel's default buckets for admission waits (a bulkhead's queue, a rate
/// limiter's next token), in seconds: 0.1ms to 1s, x2.5 apart like the
/// duration buckets. A wait is bounded by `queue.timeout` or `max_wait`,
/// usually tens of milliseconds; one past a second is a misconfiguration
/// (+Inf shows it).
std::vector<double> default_wait_buckets();

struct metrics_options {
    /// Upper bounds of keel_call_duration_seconds, in seconds.
    std::vector<double> call_duration_buckets = default_duration_buckets();
    /// Upper bounds of keel_attempt_duration_seconds, in seconds.
    std::vector<double> attempt_duration_buckets = default_duration_buckets();
    /// Upper bounds of keel_bulkhead_wait_seconds and
    /// keel_rate_limit_wait_seconds, in seconds.
    std::vector<double> wait_buckets = default_wait_buckets();
    /// With a registry of the user's (which keel cannot hook): how often a
    /// thread of keel's publishes the counts into it; zero: never, call
    /// metrics::publish(). A registry keel makes publishes whenever it is
    /// collected and needs no thread.
    std::chrono::milliseconds publish_interval{1000};
    /// The time watched circuit breakers are read at when published
    /// (circuit_breaker::snapshot(now)): the clock of their pipelines'
    /// timers. Empty: std::chrono::steady_clock, asio::steady_timer's.
    std::function<clock_ticks()> breaker_clock;
};

namespace detail {
struct dependency_handles;
} // namespace detail

/// The metrics of one dependency, as a pipeline observer. Recording an event
/// touches only memory of the calling thread's own (a few plain stores: no
/// atomic read-modify-write, no lock, no allocation once a thread has
/// recorded for this dependency); the counts reach the prometheus::Registry
/// when they are published (see metrics). Copies share the same metrics.
/// Thread-safe.
///
///   keel::basic_pipeline<asio::steady_timer, keel::prometheus::dependency_metrics>
///       orders(io, "orders-db", policy, metrics.dependency("orders-db"));
class dependency_metrics {
public:
    static constexpr bool enabled = true;

    const std::string& dependency() const noexcept;

    void on(const events::call_start&) const noexcept;
    void on(const events::attempt_start&) const noexcept {}
    void on(const events::attempt_end&) const noexcept;
    void on(const events::retry_scheduled&) const noexcept;
    void on(const events::timeout&) const noexcept;
    void on(const events::admission_wait&) const noexcept;
    void on(const events::hedges&) const noexcept;
    void on(const events::call_end&) const noexcept;

private:
    friend class metrics;
    explicit dependency_metrics(std::shared_ptr<const detail::dependency_handles> handles) noexcept
        : handles_(std::move(handles)) {}

    std::shared_ptr<const detail::dependency_handles> handles_;
};

/// The keel metric families in a prometheus::Registry:
///
///   keel_calls_total{dependency, outcome}
///   keel_attempts_total{dependency, result}
///   keel_retries_total{dependency, reason}
///   keel_timeouts_total{dependency, phase}
///   keel_call_duration_seconds{dependency}      (histogram)
///   keel_attempt_duration_seconds{dependency}   (histogram)
///   keel_inflight_calls{dependency}             (gauge)
///   keel_rejections_total{dependency, reason}
///   keel_bulkhead_wait_seconds{dependency}      (histogram)
///   keel_rate_limit_wait_seconds{dependency}    (histogram)
///   keel_hedges_total{dependency, result}       (won, lost, suppressed)
///   keel_fallbacks_total{dependency, trigger, result}
///                                               (trigger: the fault class that
///                                                made the fallback run;
///                                                result: success, failure)
///   keel_config_reloads_total{result}
///
/// and, for each dependency with a watched circuit breaker (watch()):
///
///   keel_circuit_state{dependency, state}       (gauge: 1 current, 0 others;
///                                                for scope: endpoint, how
///                                                many endpoints are in it)
///   keel_circuit_transitions_total{dependency, from, to, reason}
///   keel_circuit_failure_ratio{dependency}      (gauge; the highest endpoint's)
///
/// and, for each dependency with a watched bulkhead (watch()):
///
///   keel_bulkhead_in_flight{dependency}         (gauge)
///   keel_bulkhead_limit{dependency}             (gauge)
///   keel_bulkhead_queued{dependency}            (gauge)
///
/// and, for each dependency with a watched retry gate (watch()):
///
///   keel_retry_budget_available{dependency}     (gauge; with a retry budget)
///   keel_retries_denied_total{dependency}       (counter; with a retry budget)
///   keel_throttle_rejection_ratio{dependency}   (gauge; with adaptive throttling)
///
/// and, for each dependency with a watched fault plan (watch()):
///
///   keel_faults_injected_total{dependency, kind}
///
/// Every label value of a dependency is created, at zero, when the
/// dependency is first asked for, so dashboards see every series from the
/// first scrape and rate() never misses the first increment. Labels never
/// carry user data: the dependencies are the names the code asks for (the
/// configuration's, when keel::config makes the pipelines).
///
/// Recording is per thread (like Envoy's thread-local stats); the counts are
/// summed and published into the registry's metrics when the registry is
/// collected (a registry keel makes), by keel's exposer before each scrape,
/// every publish_interval (a registry of the user's), or by publish(). So a
/// scrape always sees every call that finished before it.
///
/// The observers keep the registry alive; `metrics` itself may go first.
class metrics {
public:
    /// Records into a registry of its own.
    explicit metrics(metrics_options options = {});
    /// Records into `registry` (the service's own, exposed with its other
    /// metrics). Throws std::invalid_argument if the registry already holds a
    /// keel metric with other labels, or if a bucket list is empty, not
    /// strictly increasing, or holds a value that is not positive and finite.
    explicit metrics(std::shared_ptr<::prometheus::Registry> registry,
                     metrics_options options = {});
    ~metrics();
    metrics(const metrics&) = delete;
    metrics& operator=(const metrics&) = delete;

    const std::shared_ptr<::prometheus::Registry>& registry() const noexcept;

    /// The observer of dependency `name` (made on the first call for a name;
    /// later calls return the same metrics). Thread-safe.
    dependency_metrics dependency(std::string_view name);

    /// The same as a run-time keel::observer (for keel::shared_observer).
    std::shared_ptr<keel::observer> observer_for(std::string_view name);

    /// observer_for as a factory, for keel::config::registry. The factory
    /// keeps what it needs alive by itself.
    std::function<std::shared_ptr<keel::observer>(std::string_view)> observer_factory();

    /// Publishes every count recorded so far into the registry now.
    void publish() const;
    /// A collectable that publishes when collected and yields no metrics of
    /// its own: register it with an exposer just before the registry (as
    /// keel::prometheus::exposer does) so every scrape publishes first.
    std::weak_ptr<::prometheus::Collectable> publishing_hook() const;

    /// Shows `breaker`, a circuit breaker of dependency `name`, in the
    /// keel_circuit_* metrics: counts each of its transitions as it happens
    /// (a listener it adds to the breaker, so an open period shorter than
    /// the scrape interval is still counted) and reads its state and failure
    /// ratio when publishing. Several breakers of one dependency (one per
    /// endpoint) show as one: the worst state (open > half_open > closed),
    /// the highest failure ratio, every transition of any of them. Keeps
    /// the breaker only weakly: when every breaker of a dependency is gone,
    /// its state and ratio series go too (its transitions stay). A breaker
    /// already watched for `name` is not watched twice. Throws
    /// std::invalid_argument for a null breaker. Thread-safe, but it adds a
    /// listener to the breaker (circuit_breaker::on_transition): call it
    /// before the breaker is used.
    void watch(std::string_view name, std::shared_ptr<keel::circuit_breaker> breaker);
    /// watch as a function that keeps what it needs alive by itself (for
    /// keel::config::registry::on_circuit_breaker).
    std::function<void(std::string_view, const std::shared_ptr<keel::circuit_breaker>&)>
    breaker_watcher();
    /// Shows `breakers`, the endpoint set of dependency `name` (`scope:
    /// endpoint`), in the keel_circuit_* metrics with no endpoint label:
    /// keel_circuit_state counts its endpoints in each state, the failure
    /// ratio is the highest among them, transitions are summed. When a
    /// dependency has several sets (a reload made a new one), the newest
    /// still alive is shown. Otherwise as watch() above.
    void watch(std::string_view name, std::shared_ptr<keel::endpoint_circuit_breakers> breakers);
    /// That watch as a function that keeps what it needs alive by itself
    /// (for keel::config::registry::on_endpoint_circuit_breakers).
    std::function<void(std::string_view, const std::shared_ptr<keel::endpoint_circuit_breakers>&)>
    endpoint_breaker_watcher();

    /// Shows `bulkhead`, the bulkhead of dependency `name`, in the
    /// keel_bulkhead_* gauges: its in_flight(), limit() and queued(), read
    /// when publishing (an admission pays nothing for them). Keeps it only
    /// weakly: when it is gone the gauges go too. A reload that replaces
    /// it: the old one still holds the attempts it admitted, so until they
    /// end the gauges show both together (in flight and queued summed, the
    /// newest's limit). A bulkhead already watched is not watched twice.
    /// Throws std::invalid_argument for a null bulkhead. Thread-safe; may be
    /// called while the bulkhead is in use.
    void watch(std::string_view name, std::shared_ptr<keel::bulkhead> bulkhead);
    /// That watch as a function that keeps what it needs alive by itself
    /// (for keel::config::registry::on_bulkhead).
    std::function<void(std::string_view, const std::shared_ptr<keel::bulkhead>&)>
    bulkhead_watcher();

    /// Shows `gate`, the retry gate of dependency `name` (its retry budget
    /// and adaptive throttle), as keel_retry_budget_available,
    /// keel_retries_denied_total and keel_throttle_rejection_ratio, read
    /// when publishing. The newest gate watched is shown; it is kept only
    /// weakly. Throws std::invalid_argument for a null gate. Thread-safe.
    void watch(std::string_view name, std::shared_ptr<keel::budget_gate> gate);
    /// That watch as a function that keeps what it needs alive by itself
    /// (for keel::config::registry::on_retry_gate).
    std::function<void(std::string_view, const std::shared_ptr<keel::budget_gate>&)>
    retry_gate_watcher();

    /// Counts the injections of `plan`, the fault rules of dependency
    /// `name`, in keel_faults_injected_total{dependency,kind}, read from the
    /// plan when publishing. The newest plan watched is counted; it is kept
    /// only weakly. Throws std::invalid_argument for a null plan. Thread-safe.
    void watch(std::string_view name, std::shared_ptr<keel::fault_plan> plan);
    /// That watch as a function that keeps what it needs alive by itself
    /// (for keel::config::registry::on_fault_plan).
    std::function<void(std::string_view, const std::shared_ptr<keel::fault_plan>&)>
    fault_plan_watcher();

    /// Counts one configuration reload (keel_config_reloads_total).
    void count_reload(bool success) noexcept;
    /// count_reload as a function that keeps what it needs alive by itself.
    std::function<void(bool success)> reload_counter();

private:
    void register_families();
    struct impl;
    std::shared_ptr<impl> impl_;
};

} // namespace keel::prometheus
