// The C++ blocks of docs/bulkhead.md: each region is copied into the page by
// scripts/docs-sync; the test build compiles this file.

#include <keel/keel.hpp>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <memory>

namespace bulkhead_docs {

[[maybe_unused]] void by_hand(asio::io_context& io) {
    // [snippet:by-hand]
    keel::bulkhead_settings settings;
    settings.max_concurrent = 16;
    settings.queue = {32, std::chrono::milliseconds(50)};
    // One per dependency: share it between the pipelines that call it.
    auto bulkhead = keel::strategy_registry::global().obtain<keel::bulkhead>("inventory", "",
                                                                             settings);
    auto chain = std::make_shared<keel::strategy_chain>();
    chain->bulkhead = bulkhead;
    keel::pipeline_policy policy;
    policy.strategies = chain;
    keel::basic_pipeline<asio::steady_timer, keel::null_observer, asio::any_io_executor,
                         keel::strategy_chain>
        inventory(io, "inventory", policy);
    // bulkhead->in_flight(), limit() and queued() are what a gauge reads.
    // [end]
}

} // namespace bulkhead_docs
