// Smoke test of the installed keel::as_result: Boost.Outcome found through
// keel's exported target, and a retried call's value delivered as a result.
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

    const bool ok = attempts == 2 && outcome.has_value() && outcome.value() == 42;
    std::cout << (ok ? "consumer as_result ok" : "consumer as_result FAILED") << '\n';
    return ok ? 0 : 1;
}
