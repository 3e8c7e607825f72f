// Smoke test of the installed bridges keel::http_config, keel::pg_config and
// keel::kafka_config: services made from a YAML file (yaml-cpp and libyaml
// through keel::config), their calls run under the file's retry policy.
#include <keel/config/registry.hpp>
#include <keel/http/service.hpp>
#include <keel/kafka/service.hpp>
#include <keel/pg/service.hpp>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

#include <iostream>
#include <string>
#include <system_error>

int main() {
    asio::io_context context;
    std::uint16_t port = 0;
    {
        asio::ip::tcp::acceptor probe(context, {asio::ip::make_address("127.0.0.1"), 0});
        port = probe.local_endpoint().port();
    }
    const std::string nowhere = "127.0.0.1:" + std::to_string(port);
    keel::config::registry policies(context.get_executor(), keel::config::load_string(R"(version: 1
defaults:
  retry: {max_attempts: 2, backoff: {kind: constant, initial: 1ms, jitter: none}}
dependencies:
  payments:
    kind: http
    connection: {base_url: "http://)" + nowhere + R"("}
  orders-db:
    kind: postgres
    connection: {dsn: "host=127.0.0.1 port=)" + std::to_string(port) + R"( user=keel"}
  events:
    kind: kafka
    connection: {bootstrap_servers: ")" + nowhere + R"("}
)"));

    keel::http::service payments(context.get_executor(), policies, "payments");
    keel::call_report http_report;
    std::error_code http_result;
    payments.async_get("/health", http_report,
                       [&](std::error_code ec, keel::http::response) { http_result = ec; });

    std::error_code pg_result;
    keel::call_report pg_report;
    {
        keel::pg::service orders(context.get_executor(), policies, "orders-db");
        orders.async_query(keel::pg::idempotent("SELECT 1"), pg_report,
                           [&](std::error_code ec, keel::pg::result) { pg_result = ec; });
        context.run();
    }
    context.restart();
    context.run();

    const auto events = policies.read_dependency("events", keel::kafka::options_from);

    const bool ok = http_result == std::errc::connection_refused && http_report.attempts == 2 &&
                    pg_result == keel::pg::errc::connect_failed && pg_report.attempts == 2 &&
                    events.bootstrap_servers == nowhere;
    std::cout << (ok ? "consumer services ok"
                     : "consumer services FAILED: " + http_result.message() + ", " +
                           pg_result.message())
              << '\n';
    return ok ? 0 : 1;
}
