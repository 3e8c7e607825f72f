// keel::prometheus::exposer: a real HTTP scrape of a real socket on loopback,
// and the errors a user sees (the `metrics:` section: configure_test.cpp).
#include <keel/config/document.hpp>
#include <keel/config/registry.hpp>
#include <keel/prometheus/configure.hpp>
#include <keel/prometheus/exposer.hpp>
#include <keel/prometheus/metrics.hpp>

#include "snapshot.hpp"
#include "support/scrape.hpp"
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

} // namespace
} // namespace keel::test
