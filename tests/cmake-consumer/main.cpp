// Smoke test of the installed package: headers (Asio and Boost.Outcome found
// through keel's exported targets), the library, and one real call.
#include <keel/as_result.hpp>
#include <keel/pipeline.hpp>

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
    keel::result<int> outcome = keel::result<int>(boost::outcome_v2::failure(std::error_code()));
    orders.async_run<void(std::error_code, int)>(
        [&](const keel::attempt& a, auto handler) {
            ++attempts;
            std::error_code ec;
            if (a.number() == 1)
                ec = std::make_error_code(std::errc::connection_refused);
            asio::post(context, [handler = std::move(handler), ec]() mutable { handler(ec, 42); });
        },
        keel::as_result([&](keel::result<int> r) { outcome = std::move(r); }));
    context.run();

    std::cout << keel::make_error_code(keel::errc::exchange_timeout).message() << '\n';
    const bool ok = std::error_code(keel::errc::exchange_timeout) == keel::condition::timeout &&
                    attempts == 2 && outcome.has_value() && outcome.value() == 42;
    std::cout << (ok ? "consumer ok" : "consumer FAILED") << " (attempts: " << attempts << ")\n";
    return ok ? 0 : 1;
}
