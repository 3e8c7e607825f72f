// The `metrics:` section (keel/prometheus/configure.hpp): the registry's
// pipelines record per dependency, the exposer serves where it says, and
// reloads are counted.
#include <keel/bulkhead.hpp>
#include <keel/circuit_breaker.hpp>
#include <keel/config/document.hpp>
#include <keel/config/registry.hpp>
#include <keel/prometheus/configure.hpp>
#include <keel/prometheus/exposer.hpp>
#include <keel/prometheus/metrics.hpp>

#include "snapshot.hpp"
#include "support/scrape.hpp"
#include <asio/io_context.hpp>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

namespace keel::test {
namespace {

// ---- the `metrics:` section -----------------------------------------------------

class temp_file {
public:
    explicit temp_file(const std::string& text)
        : path_(std::filesystem::temp_directory_path() /
                ("keel-prometheus-" + std::to_string(::getpid()) + "-" +
                 std::to_string(counter_++) + ".yaml")) {
        write(text);
    }
    ~temp_file() { std::filesystem::remove(path_); }
    void write(const std::string& text) const { std::ofstream(path_) << text; }
    std::string path() const { return path_.string(); }

private:
    static inline int counter_ = 0;
    std::filesystem::path path_;
};

constexpr const char* service_yaml = R"(version: 1
dependencies:
  orders-db: {kind: postgres}
  payments-http: {kind: http}
metrics:
  listen: 127.0.0.1:0
  buckets: {call: [10ms, 1s]}
)";

TEST(configured_metrics, registry_pipelines_record_per_dependency) {
    const config::document doc = config::load_string(service_yaml, "service.yaml");
    keel::prometheus::metrics metrics(keel::prometheus::options_from(doc.metrics));
    asio::io_context io;
    config::registry policies(io.get_executor(), doc,
                              keel::prometheus::observers_for(metrics, doc.metrics));
    int done = 0;
    for (int i = 0; i < 3; ++i)
        policies.pipeline("orders-db")
            .async_run<void(std::error_code)>(answer_now(io), [&](std::error_code) { ++done; });
    policies.pipeline("payments-http")
        .async_run<void(std::error_code)>(answer_now(io), [&](std::error_code) { ++done; });
    io.run();
    ASSERT_EQ(done, 4);
    const snapshot s(metrics.registry());
    EXPECT_EQ(s.counter("keel_calls_total", {{"dependency", "orders-db"}, {"outcome", "success"}}),
              3);
    EXPECT_EQ(
        s.counter("keel_calls_total", {{"dependency", "payments-http"}, {"outcome", "success"}}),
        1);
    // The section's buckets: 10ms, 1s, +Inf.
    EXPECT_EQ(
        s.histogram("keel_call_duration_seconds", {{"dependency", "orders-db"}}).bucket.size(), 3u);
    // The attempt histogram keeps keel's defaults.
    EXPECT_EQ(
        s.histogram("keel_attempt_duration_seconds", {{"dependency", "orders-db"}}).bucket.size(),
        keel::prometheus::default_duration_buckets().size() + 1);
}

TEST(configured_metrics, disabled_records_nothing_and_serves_nothing) {
    const config::document doc = config::load_string(
        "version: 1\ndependencies: {d: {}}\nmetrics: {enabled: false, listen: 127.0.0.1:0}\n");
    keel::prometheus::metrics metrics(keel::prometheus::options_from(doc.metrics));
    asio::io_context io;
    config::registry policies(io.get_executor(), doc,
                              keel::prometheus::observers_for(metrics, doc.metrics));
    bool done = false;
    policies.pipeline("d").async_run<void(std::error_code)>(answer_now(io),
                                                            [&](std::error_code) { done = true; });
    io.run();
    EXPECT_TRUE(done);
    EXPECT_TRUE(snapshot(metrics.registry()).series("keel_calls_total").empty());
    EXPECT_EQ(keel::prometheus::serve(metrics, doc.metrics), nullptr);
}

TEST(configured_metrics, no_listen_means_no_server) {
    const config::document doc = config::load_string("version: 1\n");
    keel::prometheus::metrics metrics;
    EXPECT_EQ(keel::prometheus::serve(metrics, doc.metrics), nullptr);
}

TEST(configured_metrics, serve_uses_listen_and_path) {
    const config::document doc = config::load_string(
        "version: 1\nmetrics: {listen: \"127.0.0.1:0\", path: /m}\n", "service.yaml");
    keel::prometheus::metrics metrics;
    auto server = keel::prometheus::serve(metrics, doc.metrics);
    ASSERT_NE(server, nullptr);
    EXPECT_NE(http_get(server->port(), "/m").find("keel_config_reloads_total"), std::string::npos);
}

TEST(configured_metrics, socket_error_names_the_file_position) {
    asio::io_context io;
    asio::ip::tcp::acceptor taken(io, {asio::ip::make_address("127.0.0.1"), 0});
    const std::string port = std::to_string(taken.local_endpoint().port());
    const config::document doc = config::load_string(
        "version: 1\nmetrics:\n  listen: 127.0.0.1:" + port + "\n", "service.yaml");
    keel::prometheus::metrics metrics;
    try {
        keel::prometheus::serve(metrics, doc.metrics);
        FAIL() << "served on a port in use";
    } catch (const std::runtime_error& e) {
        const std::string what = e.what();
        EXPECT_EQ(what.rfind("service.yaml:3:11: error: metrics.listen: ", 0), 0u) << what;
        EXPECT_NE(what.find("Address already in use"), std::string::npos) << what;
    }
}

TEST(configured_metrics, reloads_are_counted_and_a_bad_one_keeps_the_policies) {
    temp_file file(service_yaml);
    const config::document doc = config::load_file(file.path());
    keel::prometheus::metrics metrics;
    asio::io_context io;
    config::registry policies(io.get_executor(), doc,
                              keel::prometheus::observers_for(metrics, doc.metrics));
    keel::prometheus::count_reloads(metrics, policies);
    const auto reloads = [&](const char* result) {
        return snapshot(metrics.registry())
            .counter("keel_config_reloads_total", {{"result", result}});
    };
    EXPECT_EQ(reloads("success"), 0);

    file.write("version: 1\ndependencies:\n  orders-db: {timeout: {total: 3s}}\n");
    EXPECT_TRUE(policies.reload(file.path()).success);
    EXPECT_EQ(reloads("success"), 1);
    EXPECT_EQ(policies.pipeline("orders-db").policy().timeout.total, std::chrono::seconds(3));

    file.write("version: 1\ndependencies:\n  orders-db: {timeout: {total: 3}}\n");
    EXPECT_FALSE(policies.reload(file.path()).success);
    EXPECT_EQ(reloads("error"), 1);
    EXPECT_EQ(reloads("success"), 1);
    EXPECT_EQ(policies.pipeline("orders-db").policy().timeout.total, std::chrono::seconds(3));
}

// ---- circuit breakers ------------------------------------------------------------

/// A registry that reports its pipelines' circuit breakers (issue 22's
/// config::registry::on_circuit_breaker).
template <class Registry>
concept reports_breakers = requires(
    Registry& r,
    std::function<void(std::string_view, const std::shared_ptr<keel::circuit_breaker>&)> f) {
    r.on_circuit_breaker(f);
};

template <class Registry>
void expect_breakers_watched() {
    const config::document doc = config::load_string(R"(version: 1
dependencies:
  orders-db: {kind: postgres}
  payments-http:
    kind: http
    circuit_breaker: {min_calls: 2}
)");
    keel::prometheus::metrics metrics(keel::prometheus::options_from(doc.metrics));
    asio::io_context io;
    Registry policies(io.get_executor(), doc,
                      keel::prometheus::observers_for(metrics, doc.metrics));
    policies.pipeline("payments-http"); // a breaker that exists before
    keel::prometheus::watch_breakers(metrics, policies);
    policies.pipeline("orders-db");
    const snapshot s(metrics.registry());
    EXPECT_EQ(s.gauge("keel_circuit_state", {{"dependency", "payments-http"}, {"state", "closed"}}),
              1);
    EXPECT_TRUE(s.series("keel_circuit_state", {{"dependency", "orders-db"}}).empty())
        << "no breaker configured";
}

TEST(configured_metrics, registry_endpoint_sets_are_watched) {
    const config::document doc = config::load_string(R"(version: 1
dependencies:
  search-http:
    kind: http
    circuit_breaker: {min_calls: 2, scope: endpoint}
)");
    keel::prometheus::metrics metrics(keel::prometheus::options_from(doc.metrics));
    asio::io_context io;
    config::registry policies(io.get_executor(), doc,
                              keel::prometheus::observers_for(metrics, doc.metrics));
    keel::prometheus::watch_breakers(metrics, policies);
    const snapshot s(metrics.registry());
    EXPECT_EQ(s.gauge("keel_circuit_state", {{"dependency", "search-http"}, {"state", "closed"}}),
              0)
        << "an endpoint set: how many endpoints are closed (none has called yet)";
    EXPECT_FALSE(
        s.series("keel_circuit_transitions_total", {{"dependency", "search-http"}}).empty());
}

// ---- bulkheads -------------------------------------------------------------------

TEST(configured_metrics, registry_bulkheads_are_watched_and_a_reload_shows_the_new_limit) {
    temp_file file(R"(version: 1
dependencies:
  orders-db: {kind: postgres}
  payments-http:
    kind: http
    bulkhead: {max_concurrent: 4, queue: {max: 8, timeout: 50ms}}
)");
    const config::document doc = config::load_file(file.path());
    keel::prometheus::metrics metrics(keel::prometheus::options_from(doc.metrics));
    asio::io_context io;
    config::registry policies(io.get_executor(), doc,
                              keel::prometheus::observers_for(metrics, doc.metrics));
    policies.pipeline("payments-http"); // a bulkhead that exists before
    keel::prometheus::watch_bulkheads(metrics, policies);
    policies.pipeline("orders-db");
    const labels payments{{"dependency", "payments-http"}};
    snapshot s(metrics.registry());
    EXPECT_EQ(s.gauge("keel_bulkhead_limit", payments), 4);
    EXPECT_EQ(s.gauge("keel_bulkhead_in_flight", payments), 0);
    EXPECT_EQ(s.gauge("keel_bulkhead_queued", payments), 0);
    EXPECT_TRUE(s.series("keel_bulkhead_limit", {{"dependency", "orders-db"}}).empty())
        << "no bulkhead configured";

    file.write(R"(version: 1
dependencies:
  orders-db: {kind: postgres}
  payments-http:
    kind: http
    bulkhead: {max_concurrent: 16, queue: {max: 8, timeout: 50ms}}
)");
    ASSERT_TRUE(policies.reload(file.path()).success);
    policies.pipeline("payments-http");
    EXPECT_EQ(snapshot(metrics.registry()).gauge("keel_bulkhead_limit", payments), 16);
}

TEST(configured_metrics, registry_breakers_are_watched) {
    if constexpr (reports_breakers<config::registry>)
        expect_breakers_watched<config::registry>();
    else
        GTEST_SKIP() << "config::registry does not report its circuit breakers yet";
}

} // namespace
} // namespace keel::test
