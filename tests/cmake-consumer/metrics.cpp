// Smoke test of the installed keel::prometheus: a configured pipeline records
// a retried call, and the exposition says so.
#include <keel/config/registry.hpp>
#include <keel/prometheus/configure.hpp>

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <iostream>
#include <string>
#include <system_error>

int main() {
    const auto doc = keel::config::load_string(R"(version: 1
defaults:
  retry: {max_attempts: 3, backoff: {kind: constant, initial: 1ms, jitter: none}}
dependencies:
  orders-db: {kind: postgres}
)");
    asio::io_context context;
    keel::prometheus::metrics metrics(keel::prometheus::options_from(doc.metrics));
    keel::config::registry policies(context.get_executor(), doc,
                                    keel::prometheus::observers_for(metrics, doc.metrics));
    policies.pipeline("orders-db")
        .async_run<void(std::error_code)>(
            [&](const auto& attempt, auto handler) {
                std::error_code ec;
                if (attempt.number() == 1)
                    ec = std::make_error_code(std::errc::connection_refused);
                asio::post(context, [handler = std::move(handler), ec]() mutable { handler(ec); });
            },
            [](std::error_code) {});
    context.run();
    const std::string text = prometheus::TextSerializer().Serialize(metrics.registry()->Collect());
    const bool ok =
        text.find("keel_calls_total{dependency=\"orders-db\",outcome=\"success_after_retry\"} 1") !=
        std::string::npos;
    std::cout << (ok ? "consumer metrics ok" : "consumer metrics FAILED\n" + text) << '\n';
    return ok ? 0 : 1;
}
