// Smoke test of the installed keel::pg: a query to a port where nothing
// listens fails to connect, is retried by the pipeline, and is reported as
// keel::pg::errc::connect_failed.
#include <keel/pg/pool.hpp>
#include <keel/pipeline.hpp>

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
    keel::pipeline_policy policy;
    policy.retry.backoff.initial = std::chrono::milliseconds(1);
    keel::pipeline pipeline(context, "nowhere", policy);
    std::error_code result;
    keel::call_report report;
    {
        keel::pg::pool_options options;
        options.dsn = "host=127.0.0.1 port=" + std::to_string(port) + " user=keel";
        keel::pg::pool db(context.get_executor(), options);
        pipeline.async_run<void(std::error_code, keel::pg::result)>(
            [&](const keel::attempt& a, auto&& token) {
                keel::pg::query_options o;
                o.attempt = &a;
                return db.async_query(keel::pg::idempotent("SELECT 1"), o, std::move(token));
            },
            report, [&](std::error_code ec, keel::pg::result) { result = ec; });
        context.run();
    }
    context.restart();
    context.run();
    const bool ok = result == keel::pg::errc::connect_failed && report.attempts == 3;
    std::cout << (ok ? "consumer pg ok" : "consumer pg FAILED: " + result.message()) << '\n';
    return ok ? 0 : 1;
}
