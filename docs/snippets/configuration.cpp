// The C++ blocks of docs/configuration.md: each region is copied into the
// page by scripts/docs-sync; the test build compiles this file. A region that
// is an excerpt sits in a function whose parameters are what the page assumes.

#include <keel/config/document.hpp>
#include <keel/config/registry.hpp>
#include <keel/pipeline.hpp>

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <string>
#include <vector>

namespace configuration_docs {

[[maybe_unused]] void load(asio::io_context& io) {
    // [snippet:load]
    #include <keel/config/document.hpp>

    keel::config::document doc = keel::config::load_file("orders.yaml");
    const keel::config::dependency* db = doc.find("orders-db");
    keel::pipeline pipeline(io, db->name, db->policy);
    // [end]
}

[[maybe_unused]] asio::awaitable<void> registry(asio::io_context& io, asio::steady_timer& timer) {
    auto query = [&timer](const keel::attempt&, auto&& token) {
        return timer.async_wait(std::forward<decltype(token)>(token));
    };
    // [snippet:registry]
    #include <keel/config/registry.hpp>

    keel::config::registry deps(io.get_executor(), keel::config::load_file("orders.yaml"));
    auto& orders_db = deps.pipeline("orders-db");        // std::out_of_range if not declared
    auto& audit = deps.pipeline_or_defaults("audit-log"); // the file's defaults, asked for explicitly
    co_await orders_db.async_run(query, asio::use_awaitable);
    // [end]
}

[[maybe_unused]] void health(keel::config::registry& deps, std::vector<std::string>& not_ready) {
    // [snippet:health]
    for (const keel::config::circuit_breaker_status& b : deps.circuit_breakers())
        if (b.snapshot.state != keel::circuit_state::closed)
            not_ready.push_back(b.dependency); // b.endpoint, b.snapshot.since, .failure_ratio
    // [end]
}

} // namespace configuration_docs
