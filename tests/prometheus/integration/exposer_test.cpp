// keel::prometheus::exposer and the `metrics:` section: a real HTTP scrape of
// a real socket on loopback, and the errors a user sees.
#include <keel/config/document.hpp>
#include <keel/config/registry.hpp>
#include <keel/prometheus/configure.hpp>
#include <keel/prometheus/exposer.hpp>
#include <keel/prometheus/metrics.hpp>

#include "snapshot.hpp"
#include <asio/connect.hpp>
#include <asio/experimental/append.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

namespace keel::test {
namespace {

/// GET `path` from 127.0.0.1:port; the whole response, headers included.
std::string http_get(std::uint16_t port, const std::string& path) {
    asio::io_context io;
    asio::ip::tcp::socket socket(io);
    socket.connect({asio::ip::make_address("127.0.0.1"), port});
    const std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    asio::write(socket, asio::buffer(request));
    std::string response;
    std::error_code ec;
    asio::read(socket, asio::dynamic_buffer(response), ec);
    EXPECT_EQ(ec, asio::error::eof) << ec.message();
    return response;
}

/// An operation that completes at once, with success.
auto answer_now(asio::io_context& io) {
    return [&io](const auto&, auto&& token) {
        return asio::post(io, asio::experimental::append(std::move(token), std::error_code{}));
    };
}

TEST(exposer, serves_the_registry_on_a_free_port) {
    keel::prometheus::metrics metrics;
    metrics.dependency("orders-db")
        .on(events::call_end{
            "orders-db", call_outcome::success, 1, {}, std::chrono::milliseconds(2)});
    keel::prometheus::exposer server(metrics, "127.0.0.1:0");
    ASSERT_NE(server.port(), 0);
    EXPECT_EQ(server.url(), "http://127.0.0.1:" + std::to_string(server.port()) + "/metrics");
    const std::string response = http_get(server.port(), "/metrics");
    EXPECT_EQ(response.rfind("HTTP/1.1 200", 0), 0u) << response.substr(0, 200);
    EXPECT_NE(response.find("Content-Type: text/plain"), std::string::npos);
    EXPECT_NE(response.find("keel_calls_total{dependency=\"orders-db\",outcome=\"success\"} 1"),
              std::string::npos)
        << response;
    EXPECT_NE(response.find("keel_call_duration_seconds_count{dependency=\"orders-db\"} 1"),
              std::string::npos);
}

TEST(exposer, serves_only_its_path) {
    keel::prometheus::metrics metrics;
    keel::prometheus::exposer server(metrics, "localhost:0", "/internal/metrics");
    EXPECT_EQ(server.url().rfind("http://127.0.0.1:", 0), 0u); // civetweb wants numbers
    EXPECT_NE(http_get(server.port(), "/internal/metrics").find("keel_config_reloads_total"),
              std::string::npos);
    const std::string elsewhere = http_get(server.port(), "/metrics");
    EXPECT_EQ(elsewhere.substr(0, elsewhere.find("\r\n")), "HTTP/1.0 404 Not Found");
}

TEST(exposer, address_in_use_says_which_and_why) {
    asio::io_context io;
    asio::ip::tcp::acceptor taken(io, {asio::ip::make_address("127.0.0.1"), 0});
    const std::uint16_t port = taken.local_endpoint().port();
    const std::string address = "127.0.0.1:" + std::to_string(port);
    try {
        keel::prometheus::exposer server(address);
        FAIL() << "listened on a port in use";
    } catch (const std::runtime_error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("cannot listen on " + address), std::string::npos) << what;
        EXPECT_NE(what.find("Address already in use"), std::string::npos) << what;
    }
}

TEST(exposer, malformed_addresses) {
    EXPECT_THROW(keel::prometheus::exposer("9464"), std::invalid_argument);
    EXPECT_THROW(keel::prometheus::exposer("127.0.0.1:99999"), std::invalid_argument);
    EXPECT_THROW(keel::prometheus::exposer("127.0.0.1:0", "metrics"), std::invalid_argument);
    try {
        keel::prometheus::exposer server("no-such-host.invalid:0");
        FAIL() << "listened on an unresolvable host";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("no-such-host.invalid"), std::string::npos);
    }
}

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

} // namespace
} // namespace keel::test
