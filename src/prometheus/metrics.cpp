// Over 400 lines: the families of every metric (calls, strategies, reloads) are registered and
// resolved together, per dependency, in one place.
// keel::prometheus::metrics: the metric families, each dependency's handles
// resolved once, the publishing thread for a registry of the user's, and the
// glue to keel::observer. Recording is in recording.cpp, publishing in
// publishing.cpp (shards.hpp: what they share), circuit breakers in
// circuits.cpp.
#include <keel/budget_gate.hpp>
#include <keel/bulkhead.hpp>
#include <keel/circuit_breaker.hpp>
#include <keel/endpoint_circuit_breakers.hpp>
#include <keel/prometheus/metrics.hpp>

#include "shards.hpp"
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace keel::prometheus {

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
/// keel_hedges_total's results, in the order of cell_layout::hedges.
constexpr const char* hedge_results[] = {"won", "lost", "suppressed"};
/// keel_fallbacks_total's triggers: every fault class, `permanent` and
/// `cancelled` included, since `fallback.on` may list them (a caller's own
/// cancellation never triggers one, an operation's may).
constexpr fault_class fallback_triggers[] = {fault_class::transient, fault_class::timeout,
                                             fault_class::throttled, fault_class::permanent,
                                             fault_class::cancelled, fault_class::rejected};
static_assert(std::size(fallback_triggers) == fault_class_count);

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

/// The breakers' time by default: asio::steady_timer's clock.
clock_ticks steady_now() noexcept {
    return std::chrono::duration_cast<clock_ticks>(
        std::chrono::steady_clock::now().time_since_epoch());
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

std::vector<double> default_wait_buckets() {
    return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1};
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
    ::prometheus::Family<::prometheus::Counter>* rejections = nullptr;
    ::prometheus::Family<::prometheus::Counter>* hedges = nullptr;
    ::prometheus::Family<::prometheus::Counter>* fallbacks = nullptr;
    ::prometheus::Family<::prometheus::Histogram>* call_duration = nullptr;
    ::prometheus::Family<::prometheus::Histogram>* attempt_duration = nullptr;
    ::prometheus::Family<::prometheus::Histogram>* bulkhead_wait = nullptr;
    ::prometheus::Family<::prometheus::Histogram>* rate_limit_wait = nullptr;
    ::prometheus::Family<::prometheus::Gauge>* inflight = nullptr;
    ::prometheus::Counter* reload_success = nullptr;
    ::prometheus::Counter* reload_error = nullptr;
    detail::circuit_families circuits;
    detail::bulkhead_families bulkheads;
    detail::budget_families budgets;
    detail::fault_families faults;
    std::function<clock_ticks()> breaker_clock;

    std::mutex mutex; ///< guards dependencies (Family::Add locks its own)
    std::map<std::string, std::shared_ptr<detail::dependency_handles>, std::less<>> dependencies;

    std::shared_ptr<detail::dependency_handles> resolve(std::string_view name) {
        std::lock_guard lock(mutex);
        if (auto it = dependencies.find(name); it != dependencies.end())
            return it->second;
        auto made = std::make_shared<detail::dependency_handles>(
            options.call_duration_buckets.size(), options.attempt_duration_buckets.size(),
            options.wait_buckets.size());
        made->registry = registry;
        made->dependency = std::string(name);
        made->call_bounds_ns = to_nanoseconds(options.call_duration_buckets);
        made->attempt_bounds_ns = to_nanoseconds(options.attempt_duration_buckets);
        made->wait_bounds_ns = to_nanoseconds(options.wait_buckets);
        made->clock = breaker_clock;
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
        for (std::size_t i = 0; i < detail::refusal_count; ++i)
            made->rejections[i] = &rejections->Add(
                {{"dependency", dep}, {"reason", std::string(detail::refusal_names[i])}});
        for (std::size_t i = 0; i < made->hedges.size(); ++i)
            made->hedges[i] = &hedges->Add({{"dependency", dep}, {"result", hedge_results[i]}});
        for (fault_class f : fallback_triggers)
            for (bool answered : {true, false})
                made->fallbacks[detail::fallback_index(f, answered)] =
                    &fallbacks->Add({{"dependency", dep},
                                     {"trigger", std::string(to_string(f))},
                                     {"result", answered ? "success" : "failure"}});
        made->call_duration =
            &call_duration->Add({{"dependency", dep}}, options.call_duration_buckets);
        made->attempt_duration =
            &attempt_duration->Add({{"dependency", dep}}, options.attempt_duration_buckets);
        made->bulkhead_wait = &bulkhead_wait->Add({{"dependency", dep}}, options.wait_buckets);
        made->rate_limit_wait = &rate_limit_wait->Add({{"dependency", dep}}, options.wait_buckets);
        made->inflight = &inflight->Add({{"dependency", dep}});
        publisher->add(made);
        dependencies.emplace(made->dependency, made);
        return made;
    }

    /// Watches a circuit_breaker or an endpoint_circuit_breakers.
    template <class Breakers>
    void watch(std::string_view name, const std::shared_ptr<Breakers>& breakers) {
        if (!breakers)
            throw std::invalid_argument("keel::prometheus: watch: the circuit breaker is null");
        const std::shared_ptr<detail::dependency_handles> handles = resolve(name);
        handles->circuits.add(circuits, registry, handles->dependency, breakers);
    }

    void watch(std::string_view name, const std::shared_ptr<keel::bulkhead>& bulkhead) {
        if (!bulkhead)
            throw std::invalid_argument("keel::prometheus: watch: the bulkhead is null");
        const std::shared_ptr<detail::dependency_handles> handles = resolve(name);
        handles->bulkheads.add(bulkheads, handles->dependency, bulkhead);
    }

    void watch(std::string_view name, const std::shared_ptr<keel::budget_gate>& gate) {
        if (!gate)
            throw std::invalid_argument("keel::prometheus: watch: the retry gate is null");
        const std::shared_ptr<detail::dependency_handles> handles = resolve(name);
        handles->budgets.add(budgets, handles->dependency, gate);
    }

    void watch(std::string_view name, const std::shared_ptr<keel::fault_plan>& plan) {
        if (!plan)
            throw std::invalid_argument("keel::prometheus: watch: the fault plan is null");
        const std::shared_ptr<detail::dependency_handles> handles = resolve(name);
        handles->faults.add(faults, handles->dependency, plan);
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
    check_buckets(options.wait_buckets, "wait");
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
    check_buckets(options.wait_buckets, "wait");
    impl_->registry = std::move(registry);
    impl_->options = std::move(options);
    register_families();
    if (impl_->options.publish_interval > std::chrono::milliseconds::zero())
        impl_->start_publishing(impl_->options.publish_interval);
}

void metrics::register_families() {
    impl& m = *impl_;
    m.breaker_clock = m.options.breaker_clock ? m.options.breaker_clock : steady_now;
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
    m.rejections = &BuildCounter()
                        .Name("keel_rejections_total")
                        .Help("Calls a local refusal of keel ended or cut short (a first attempt "
                              "or a retry refused), by the refusal.")
                        .Register(r);
    m.hedges = &BuildCounter()
                    .Name("keel_hedges_total")
                    .Help("Hedges (attempts started beside a slower one) by result: won (gave "
                          "the call its success), lost, or suppressed (due, but the retry budget "
                          "or the deadline kept it back).")
                    .Register(r);
    m.fallbacks = &BuildCounter()
                       .Name("keel_fallbacks_total")
                       .Help("Fallbacks run for failed calls, by the fault class of the error "
                             "that triggered them and their result (success: the fallback "
                             "answered; failure: the call kept its error).")
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
    m.bulkhead_wait = &::prometheus::BuildHistogram()
                           .Name("keel_bulkhead_wait_seconds")
                           .Help("Time attempts waited in a bulkhead's queue, admitted or not "
                                 "(attempts admitted at once are not counted).")
                           .Register(r);
    m.rate_limit_wait = &::prometheus::BuildHistogram()
                             .Name("keel_rate_limit_wait_seconds")
                             .Help("Time attempts waited for a rate limiter's token, admitted or "
                                   "not (attempts admitted at once are not counted).")
                             .Register(r);
    auto& reloads = BuildCounter()
                        .Name("keel_config_reloads_total")
                        .Help("Configuration reloads, by result (an error keeps the running "
                              "policies).")
                        .Register(r);
    m.reload_success = &reloads.Add({{"result", "success"}});
    m.reload_error = &reloads.Add({{"result", "error"}});
    m.circuits.state = &::prometheus::BuildGauge()
                            .Name("keel_circuit_state")
                            .Help("The circuit breaker's state: 1 for the current one, 0 for the "
                                  "others (the worst of a dependency's breakers).")
                            .Register(r);
    m.circuits.transitions = &BuildCounter()
                                  .Name("keel_circuit_transitions_total")
                                  .Help("Circuit breaker transitions, counted as they happen.")
                                  .Register(r);
    m.circuits.failure_ratio = &::prometheus::BuildGauge()
                                    .Name("keel_circuit_failure_ratio")
                                    .Help("Failed / recorded attempts in the circuit breaker's "
                                          "window (the highest of a dependency's breakers).")
                                    .Register(r);
    m.bulkheads = detail::bulkhead_families::registered(r);
    m.budgets = detail::budget_families::registered(r);
    m.faults = detail::fault_families::registered(r);
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
    void on(const events::admission_wait& e) override { target_.on(e); }
    void on(const events::hedges& e) override { target_.on(e); }
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

void metrics::watch(std::string_view name, std::shared_ptr<keel::circuit_breaker> breaker) {
    impl_->watch(name, breaker);
}

std::function<void(std::string_view, const std::shared_ptr<keel::circuit_breaker>&)>
metrics::breaker_watcher() {
    return [state = impl_](std::string_view name, const auto& breaker) {
        state->watch(name, breaker);
    };
}

void metrics::watch(std::string_view name,
                    std::shared_ptr<keel::endpoint_circuit_breakers> breakers) {
    impl_->watch(name, breakers);
}

std::function<void(std::string_view, const std::shared_ptr<keel::endpoint_circuit_breakers>&)>
metrics::endpoint_breaker_watcher() {
    return [state = impl_](std::string_view name, const auto& breakers) {
        state->watch(name, breakers);
    };
}

void metrics::watch(std::string_view name, std::shared_ptr<keel::bulkhead> bulkhead) {
    impl_->watch(name, bulkhead);
}

std::function<void(std::string_view, const std::shared_ptr<keel::bulkhead>&)>
metrics::bulkhead_watcher() {
    return [state = impl_](std::string_view name, const auto& bulkhead) {
        state->watch(name, bulkhead);
    };
}

void metrics::watch(std::string_view name, std::shared_ptr<keel::budget_gate> gate) {
    impl_->watch(name, gate);
}

std::function<void(std::string_view, const std::shared_ptr<keel::budget_gate>&)>
metrics::retry_gate_watcher() {
    return [state = impl_](std::string_view name, const auto& gate) { state->watch(name, gate); };
}

void metrics::watch(std::string_view name, std::shared_ptr<keel::fault_plan> plan) {
    impl_->watch(name, plan);
}

std::function<void(std::string_view, const std::shared_ptr<keel::fault_plan>&)>
metrics::fault_plan_watcher() {
    return [state = impl_](std::string_view name, const auto& plan) { state->watch(name, plan); };
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
