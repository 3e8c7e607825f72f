// Smoke test of the installed keel::http: a request to a port where nothing
// listens is refused, retried by the pipeline, and reported as refused.
#include <keel/http/client.hpp>
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
    keel::http::client http(context.get_executor());
    keel::http::request r;
    r.url = "http://127.0.0.1:" + std::to_string(port) + "/";
    keel::call_report report;
    std::error_code result;
    pipeline.async_run<void(std::error_code, keel::http::response)>(
        [&](const keel::attempt& a, auto&& token) {
            keel::http::send_options o;
            o.attempt = &a;
            return http.async_send(r, o, std::move(token));
        },
        report, [&](std::error_code ec, keel::http::response) { result = ec; });
    context.run();
    const bool ok = result == std::errc::connection_refused && report.attempts == 3;
    std::cout << (ok ? "consumer http ok" : "consumer http FAILED: " + result.message()) << '\n';
    return ok ? 0 : 1;
}
