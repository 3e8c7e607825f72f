// Smoke test of the installed keel::as_result: Boost.Outcome found through
// keel's exported target; a failed call's error delivered as a value.
#include <keel/as_result.hpp>
#include <keel/pipeline.hpp>

#include <asio/io_context.hpp>
#include <asio/post.hpp>

#include <iostream>
#include <system_error>

int main() {
    asio::io_context context;
    keel::pipeline_policy policy;
    policy.retry.max_attempts = 1;
    keel::pipeline orders(context, "orders", policy);

    keel::result<int> outcome = keel::result<int>(boost::outcome_v2::success(0));
    orders.async_run<void(std::error_code, int)>(
        [&](const keel::attempt&, auto handler) {
            asio::post(context, [handler = std::move(handler)]() mutable {
                handler(std::make_error_code(std::errc::permission_denied), 0);
            });
        },
        keel::as_result([&](keel::result<int> r) { outcome = std::move(r); }));
    context.run();

    const bool ok = !outcome.has_value() && outcome.error() == std::errc::permission_denied;
    std::cout << (ok ? "consumer as_result ok" : "consumer as_result FAILED") << '\n';
    return ok ? 0 : 1;
}
