// keel::prometheus set up from the `metrics:` section of a keel::config file.
#pragma once

#include <keel/config/document.hpp>
#include <keel/config/registry.hpp>
#include <keel/prometheus/exposer.hpp>
#include <keel/prometheus/metrics.hpp>

#include <memory>

namespace keel::prometheus {

/// The histogram buckets the section asks for (keel's defaults where it is
/// silent).
metrics_options options_from(const config::metrics_settings& settings);

/// For keel::config::registry: every pipeline records into `target`, or
/// nothing at all when the section says `enabled: false`.
config::observer_factory observers_for(metrics& target, const config::metrics_settings& settings);

/// Counts every reload of `policies` in keel_config_reloads_total{result}.
void count_reloads(metrics& target, config::registry& policies);

/// Shows every circuit breaker of `policies`' pipelines, those it has and
/// those it makes later, in the keel_circuit_* metrics (metrics::watch).
void watch_breakers(metrics& target, config::registry& policies);

/// Shows every bulkhead of `policies`' pipelines, those it has and those a
/// reload makes later, in the keel_bulkhead_* gauges (metrics::watch).
void watch_bulkheads(metrics& target, config::registry& policies);

/// Shows the retry budget and adaptive throttle of every dependency of
/// `policies`' pipelines, and those a reload makes later
/// (keel_retry_budget_available, keel_retries_denied_total,
/// keel_throttle_rejection_ratio; metrics::watch).
void watch_retry_gates(metrics& target, config::registry& policies);

/// Counts the injections of the fault rules (`faults:`) of `policies`'
/// pipelines, and of those a reload makes later
/// (keel_faults_injected_total; metrics::watch).
void watch_fault_plans(metrics& target, config::registry& policies);

/// Serves `source` on `settings.listen` at `settings.path`; null when the
/// section is disabled or names no address. A socket error names the file,
/// line and column of `listen` (std::runtime_error).
std::unique_ptr<exposer> serve(const metrics& source, const config::metrics_settings& settings);

} // namespace keel::prometheus
