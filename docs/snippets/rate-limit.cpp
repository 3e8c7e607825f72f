// The C++ blocks of docs/rate-limit.md: each region is copied into the page
// by scripts/docs-sync; the test build compiles this file.

#include <keel/keel.hpp>
#include <keel/rate_limiter.hpp>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <memory>

namespace rate_limit_docs {

[[maybe_unused]] void by_hand(asio::io_context& io) {
    // [snippet:by-hand]
    keel::rate_limit_settings settings;
    settings.rate = *keel::parse_rate("200/s").rate; // or {200, std::chrono::seconds(1)}
    settings.burst = 50;
    settings.max_wait = std::chrono::milliseconds(20);
    settings.pushback_cap = std::chrono::seconds(10); // the retry policy's retry_after.max
    keel::pipeline_policy policy;
    auto chain = std::make_shared<keel::strategy_chain>();
    // One per dependency, shared by the pipelines that call it; a chain may
    // hold a breaker and a bulkhead beside it.
    chain->rate_limiter =
        keel::strategy_registry::global().obtain<keel::rate_limiter>("quotes", "", settings);
    policy.strategies = chain;
    keel::basic_pipeline<asio::steady_timer, keel::null_observer, asio::any_io_executor,
                         keel::strategy_chain>
        quotes(io, "quotes", policy);
    // [end]
}

} // namespace rate_limit_docs
