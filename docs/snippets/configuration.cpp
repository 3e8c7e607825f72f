// The C++ blocks of docs/configuration.md: each region is copied into the page by
// scripts/docs-sync; the test build compiles this file.

#include <keel/config/document.hpp>
#include <keel/config/registry.hpp>

namespace loading_a_file {
// [snippet:loading-a-file]
#include <keel/config/document.hpp>

keel::config::document doc = keel::config::load_file("orders.yaml");
const keel::config::dependency* db = doc.find("orders-db");
keel::pipeline pipeline(io, db->name, db->policy);
// [end]
} // namespace loading_a_file

namespace at_run_time_the {
// [snippet:at-run-time-the]
#include <keel/config/registry.hpp>

keel::config::registry deps(io.get_executor(), keel::config::load_file("orders.yaml"));
auto& orders_db = deps.pipeline("orders-db");        // std::out_of_range if not declared
auto& audit = deps.pipeline_or_defaults("audit-log"); // the file's defaults, asked for explicitly
co_await orders_db.async_run(query, asio::use_awaitable);
// [end]
} // namespace at_run_time_the
