#include <keel/prometheus/configure.hpp>

#include <stdexcept>

namespace keel::prometheus {

metrics_options options_from(const config::metrics_settings& settings) {
    metrics_options options;
    if (!settings.call_buckets.empty())
        options.call_duration_buckets = settings.call_buckets;
    if (!settings.attempt_buckets.empty())
        options.attempt_duration_buckets = settings.attempt_buckets;
    return options;
}

config::observer_factory observers_for(metrics& target, const config::metrics_settings& settings) {
    if (!settings.enabled)
        return {};
    return target.observer_factory();
}

void count_reloads(metrics& target, config::registry& policies) {
    policies.on_reload([count = target.reload_counter()](const config::reload_event& event) {
        count(event.success);
    });
}

void watch_breakers(metrics& target, config::registry& policies) {
    policies.on_circuit_breaker(target.breaker_watcher());
    policies.on_endpoint_circuit_breakers(target.endpoint_breaker_watcher());
}

void watch_bulkheads(metrics& target, config::registry& policies) {
    policies.on_bulkhead(target.bulkhead_watcher());
}

void watch_retry_gates(metrics& target, config::registry& policies) {
    policies.on_retry_gate(target.retry_gate_watcher());
}

void watch_fault_plans(metrics& target, config::registry& policies) {
    policies.on_fault_plan(target.fault_plan_watcher());
}

std::unique_ptr<exposer> serve(const metrics& source, const config::metrics_settings& settings) {
    if (!settings.enabled || settings.listen.empty())
        return nullptr;
    const config::position& at = settings.listen_where;
    const std::string where =
        at.file + ":" + std::to_string(at.line) + ":" + std::to_string(at.column);
    try {
        return std::make_unique<exposer>(source, settings.listen, settings.path);
    } catch (const std::exception& e) {
        throw std::runtime_error(where + ": error: metrics.listen: " + e.what());
    }
}

} // namespace keel::prometheus
