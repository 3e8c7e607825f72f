// The C++ blocks of docs/metrics.md: each region is copied into the page by
// scripts/docs-sync; the test build compiles this file.

#include <keel/config/registry.hpp>
#include <keel/prometheus/configure.hpp>

namespace with_keel_config_the {
// [snippet:with-keel-config-the]
#include <keel/config/registry.hpp>
#include <keel/prometheus/configure.hpp>

auto doc = keel::config::load_file("service.yaml");
keel::prometheus::metrics metrics(keel::prometheus::options_from(doc.metrics));
keel::config::registry policies(io.get_executor(), doc,
                                keel::prometheus::observers_for(metrics, doc.metrics));
keel::prometheus::count_reloads(metrics, policies);      // keel_config_reloads_total
auto server = keel::prometheus::serve(metrics, doc.metrics); // null without metrics.listen
auto watcher = keel::config::watch(io.get_executor(), policies, "service.yaml");

policies.pipeline("orders-db").async_run(op, token);    // recorded as dependency="orders-db"
// [end]
} // namespace with_keel_config_the

[[maybe_unused]] void by_hand_without_a() {
    // [snippet:by-hand-without-a]
    keel::prometheus::metrics metrics;                        // makes its own registry
    keel::basic_pipeline<asio::steady_timer, keel::prometheus::dependency_metrics>
        orders(io, "orders-db", policy, metrics.dependency("orders-db"));
    keel::prometheus::exposer server(metrics, "127.0.0.1:9464");
    // [end]
}

[[maybe_unused]] void with_your_own_prometheus() {
    // [snippet:with-your-own-prometheus]
    auto registry = std::make_shared<prometheus::Registry>();
    keel::prometheus::metrics metrics(registry);
    // [end]
}
