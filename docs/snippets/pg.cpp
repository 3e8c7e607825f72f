// The C++ blocks of docs/pg.md: each region is copied into the page by
// scripts/docs-sync; the test build compiles this file.

#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>
#include <keel/config/registry.hpp>
#include <keel/pg/service.hpp>
#include <keel/pg/transaction.hpp>

namespace a_dependency_from_the_2 {
// [snippet:a-dependency-from-the-2]
#include <keel/config/registry.hpp>
#include <keel/pg/service.hpp>

#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>

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
} // namespace a_dependency_from_the_2

[[maybe_unused]] void the_pool_by_hand() {
    // [snippet:the-pool-by-hand]
    pg::pool_options options;
    options.dsn = "host=127.0.0.1 port=5432 dbname=app user=app";
    options.size = 4;
    pg::pool db(io.get_executor(), options);
    keel::pipeline pipeline(io, "app-db", policy);

    // One statement, no retries (completes with void(std::error_code, pg::result)):
    db.async_query(pg::idempotent("SELECT 1"), {}, [](std::error_code ec, pg::result r) { ... });

    // Through a pipeline: retries, per-attempt deadlines, server-side cancel.
    db.async_call(pipeline, pg::idempotent("SELECT 1"), token);
    // [end]
}

[[maybe_unused]] void statements_and_results() {
    // [snippet:statements-and-results]
    pg::statement insert("INSERT INTO events (id, kind, body) VALUES ($1, $2, $3)",
                         event.id, event.kind, std::optional<std::string>());
    insert.idempotent = true;               // safe to run twice: see below
    auto read = pg::idempotent("SELECT count(*) FROM events WHERE kind = $1", "paid");
    // [end]
}

namespace transactions {
// [snippet:transactions]
#include <keel/pg/transaction.hpp>

pg::async_transaction(db, pipeline,
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
} // namespace transactions
