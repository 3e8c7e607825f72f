// The C++ blocks of docs/metrics.md: each region is copied into the page by
// scripts/docs-sync; the test build compiles this file. A region that is an
// excerpt sits in a function whose parameters are what the page assumes.

#include <keel/bulkhead.hpp>
#include <keel/circuit_breaker.hpp>
#include <keel/config/registry.hpp>
#include <keel/pipeline.hpp>
#include <keel/prometheus/configure.hpp>
#include <keel/prometheus/exposer.hpp>
#include <keel/prometheus/metrics.hpp>
#include <keel/strategy.hpp>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <prometheus/registry.h>

#include <chrono>
#include <memory>
#include <system_error>

namespace metrics_docs {

template <class Operation, class Token>
void with_config(asio::io_context& io, Operation op, Token token) {
    // [snippet:with-config]
    #include <keel/config/registry.hpp>
    #include <keel/prometheus/configure.hpp>

    auto doc = keel::config::load_file("service.yaml");
    keel::prometheus::metrics metrics(keel::prometheus::options_from(doc.metrics));
    keel::config::registry policies(io.get_executor(), doc,
                                    keel::prometheus::observers_for(metrics, doc.metrics));
    keel::prometheus::count_reloads(metrics, policies);      // keel_config_reloads_total
    keel::prometheus::watch_breakers(metrics, policies);     // keel_circuit_*
    keel::prometheus::watch_bulkheads(metrics, policies);    // keel_bulkhead_*
    keel::prometheus::watch_retry_gates(metrics, policies);  // keel_retry_budget_*, ...
    keel::prometheus::watch_fault_plans(metrics, policies);  // keel_faults_injected_total
    auto server = keel::prometheus::serve(metrics, doc.metrics); // null without metrics.listen
    auto watcher = keel::config::watch(io.get_executor(), policies, "service.yaml");

    policies.pipeline("orders-db").async_run(op, token);    // recorded as dependency="orders-db"
    // [end]
}

inline auto wait_once(asio::steady_timer& timer) {
    return [&timer](const keel::attempt&, auto&& token) {
        return timer.async_wait(std::forward<decltype(token)>(token));
    };
}
template void with_config(asio::io_context&, decltype(wait_once(std::declval<asio::steady_timer&>())),
                          void (*)(std::error_code));

[[maybe_unused]] void by_hand(asio::io_context& io, const keel::pipeline_policy& policy) {
    // [snippet:by-hand]
    keel::prometheus::metrics metrics;                        // makes its own registry
    keel::basic_pipeline<asio::steady_timer, keel::prometheus::dependency_metrics>
        orders(io, "orders-db", policy, metrics.dependency("orders-db"));
    keel::prometheus::exposer server(metrics, "127.0.0.1:9464");
    // [end]
}

[[maybe_unused]] void watch_breaker(asio::io_context& io, keel::prometheus::metrics& metrics,
                                    keel::pipeline_policy policy,
                                    const keel::circuit_breaker_settings& settings) {
    // [snippet:watch-breaker]
    auto breaker = std::make_shared<keel::circuit_breaker>(settings);
    metrics.watch("payments", breaker);                      // before the breaker is used
    auto chain = std::make_shared<keel::strategy_chain>();
    chain->breaker = breaker;
    policy.strategies = chain;
    keel::basic_pipeline<asio::steady_timer, keel::prometheus::dependency_metrics,
                         asio::any_io_executor, keel::strategy_chain>
        payments(io, "payments", policy, metrics.dependency("payments"));
    // [end]
}

[[maybe_unused]] void watch_bulkhead(keel::prometheus::metrics& metrics,
                                     keel::strategy_chain& chain) {
    // [snippet:watch-bulkhead]
    keel::bulkhead_settings settings;
    settings.max_concurrent = 64;
    settings.queue = {128, std::chrono::milliseconds(50)};
    auto bulkhead = std::make_shared<keel::bulkhead>(settings);
    metrics.watch("payments", bulkhead);                     // keel_bulkhead_*, any time
    chain.bulkhead = bulkhead;                               // the pipeline's chain, as above
    // [end]
}

[[maybe_unused]] void own_registry() {
    // [snippet:own-registry]
    auto registry = std::make_shared<prometheus::Registry>();
    keel::prometheus::metrics metrics(registry);
    // [end]
}

} // namespace metrics_docs
