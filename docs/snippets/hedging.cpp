// The C++ blocks of docs/hedging.md: each region is copied into the page
// by scripts/docs-sync; the test build compiles this file.

#include <keel/hedging.hpp>
#include <keel/idempotent.hpp>
#include <keel/keel.hpp>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <memory>
#include <system_error>

namespace hedging_docs {

/// A read the dependency may answer twice without harm.
struct read_profile {
    template <class Attempt, class Token>
    auto operator()(const Attempt&, Token&& token) {
        return asio::async_initiate<Token, void(std::error_code)>(
            [](auto handler) { std::move(handler)(std::error_code()); }, token);
    }
};

[[maybe_unused]] void by_hand(asio::io_context& io) {
    // [snippet:by-hand]
    keel::hedge_settings settings;
    settings.max_attempts = 3;
    settings.delay = std::chrono::milliseconds(50);
    keel::pipeline_policy policy;
    policy.retry.max_attempts = 1; // the hedge makes the attempts
    auto chain = std::make_shared<keel::strategy_chain>();
    // One per dependency, shared by the pipelines that call it.
    chain->parallel =
        keel::strategy_registry::global().obtain<keel::hedging>("search", "", settings);
    policy.strategies = chain;
    keel::basic_pipeline<asio::steady_timer, keel::null_observer, asio::any_io_executor,
                         keel::strategy_chain>
        search(io, "search", policy);
    // [end]

    // [snippet:idempotent]
    // Hedged: the operation says it may run twice at once.
    search.async_run(keel::idempotent(read_profile{}), [](std::error_code) {});
    // Not hedged: one attempt, however slow (keel cannot know a write is
    // harmless to repeat).
    search.async_run(read_profile{}, [](std::error_code) {});
    // [end]
}

} // namespace hedging_docs
