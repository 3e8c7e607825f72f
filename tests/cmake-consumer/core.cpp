// Smoke test of the installed keel::core alone: headers (Asio found through
// keel's exported targets; no Boost, no yaml-cpp), the library, and one real
// retried call.
#include <keel/keel.hpp>

#include <asio/io_context.hpp>
#include <asio/post.hpp>

#include <iostream>
#include <system_error>

int main() {
    asio::io_context context;
    keel::pipeline_policy policy;
    policy.retry.backoff.initial = std::chrono::milliseconds(1);
    policy.timeout.exchange = std::chrono::seconds(5);
    keel::pipeline orders(context, "orders", policy);

    int attempts = 0;
    std::error_code result = make_error_code(std::errc::io_error);
    int value = 0;
    keel::call_report report;
    orders.async_run<void(std::error_code, int)>(
        [&](const keel::attempt& a, auto handler) {
            ++attempts;
            std::error_code ec;
            if (a.number() == 1)
                ec = std::make_error_code(std::errc::connection_refused);
            asio::post(context, [handler = std::move(handler), ec]() mutable { handler(ec, 42); });
        },
        report,
        [&](std::error_code ec, int v) {
            result = ec;
            value = v;
        });
    context.run();

    std::cout << keel::make_error_code(keel::errc::exchange_timeout).message() << '\n';
    const bool ok = std::error_code(keel::errc::exchange_timeout) == keel::condition::timeout &&
                    attempts == 2 && !result && value == 42 && report.attempts == 2;
    std::cout << (ok ? "consumer core ok" : "consumer core FAILED") << " (attempts: " << attempts
              << ")\n";
    return ok ? 0 : 1;
}
