// The C++ blocks of docs/pg.md: each region is copied into the page by
// scripts/docs-sync; the test build compiles this file. A region that is an
// excerpt sits in a function whose parameters are what the page assumes.

#include <keel/config/registry.hpp>
#include <keel/pg/pool.hpp>
#include <keel/pg/service.hpp>
#include <keel/pg/transaction.hpp>
#include <keel/pipeline.hpp>

#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/use_awaitable.hpp>

#include <cstdint>
#include <iostream>
#include <optional>
#include <string>
#include <system_error>

namespace pg_docs {

// [snippet:service]
#include <keel/config/registry.hpp>
#include <keel/pg/service.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>

#include <iostream>

namespace pg = keel::pg;

asio::awaitable<void> show(pg::service& orders, std::int64_t id) {
    auto [ec, rows] = co_await orders.async_query(
        pg::idempotent("SELECT total, note FROM orders WHERE id = $1", id),
        asio::experimental::as_tuple(asio::use_awaitable));
    if (ec) {
        std::cerr << ec.message() << ": " << rows.error_message() << '\n';
        co_return;
    }
    for (int r = 0; r < rows.rows(); ++r)
        std::cout << rows.get<double>(r, 0) << ' '
                  << rows.get_optional<std::string>(r, 1).value_or("-") << '\n';
}

int main() {
    asio::io_context io;
    keel::config::registry policies(io.get_executor(),
                                    keel::config::load_file("service.yaml"));
    pg::service orders(io.get_executor(), policies, "orders-db");
    asio::co_spawn(io, show(orders, 42), asio::detached);
    io.run();
}
// [end]

template <class Token>
void pool_by_hand(asio::io_context& io, const keel::pipeline_policy& policy, Token token) {
    // [snippet:pool]
    pg::pool_options options;
    options.dsn = "host=127.0.0.1 port=5432 dbname=app user=app";
    options.size = 4;
    pg::pool db(io.get_executor(), options);
    keel::pipeline pipeline(io, "app-db", policy);

    // One statement, no retries (completes with void(std::error_code, pg::result)):
    db.async_query(pg::idempotent("SELECT 1"), {}, [](std::error_code ec, pg::result r) { /* ... */ });

    // Through a pipeline: retries, per-attempt deadlines, server-side cancel.
    db.async_call(pipeline, pg::idempotent("SELECT 1"), token);
    // [end]
}
template void pool_by_hand(asio::io_context&, const keel::pipeline_policy&,
                           void (*)(std::error_code, pg::result));

struct event_row {
    std::string id;
    std::string kind;
};

[[maybe_unused]] void statements(const event_row& event) {
    // [snippet:statements]
    pg::statement insert("INSERT INTO events (id, kind, body) VALUES ($1, $2, $3)",
                         event.id, event.kind, std::optional<std::string>());
    insert.idempotent = true;               // safe to run twice: see below
    auto read = pg::idempotent("SELECT count(*) FROM events WHERE kind = $1", "paid");
    // [end]
}

[[maybe_unused]] void named_statement(pg::pool& db, keel::pipeline& pipeline, std::int64_t id) {
    // [snippet:named]
    // "order_total" is what a fault rule's `statement:` selects.
    db.async_call(pipeline,
                  pg::read_only("SELECT total FROM orders WHERE id = $1", id).named("order_total"),
                  [](std::error_code ec, pg::result r) { /* ... */ });
    // [end]
}

[[maybe_unused]] void transaction(pg::pool& db, keel::pipeline& pipeline, std::int64_t from,
                                  std::int64_t to, std::int64_t amount) {
    // [snippet:transaction]
    #include <keel/pg/transaction.hpp>

    db.async_transaction(pipeline,
        [&](pg::transaction& tx) -> asio::awaitable<void> {
            auto rows = co_await tx.async_query(
                pg::statement("SELECT balance FROM accounts WHERE id = $1", from), asio::use_awaitable);
            if (rows.get<std::int64_t>(0, 0) < amount)
                throw std::system_error(make_error_code(std::errc::invalid_argument));
            co_await tx.async_query(pg::statement("UPDATE accounts SET balance = balance - $2 "
                                                  "WHERE id = $1", from, amount), asio::use_awaitable);
            co_await tx.async_query(pg::statement("UPDATE accounts SET balance = balance + $2 "
                                                  "WHERE id = $1", to, amount), asio::use_awaitable);
        },
        pg::isolation::serializable,
        [](std::error_code ec) { /* committed, or why not */ });
    // [end]
}

} // namespace pg_docs
