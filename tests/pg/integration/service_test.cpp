// keel::pg::service against the cluster: a pool and a pipeline from a
// `kind: postgres` dependency (its connection section alone:
// unit/options_from_test.cpp).
#include <keel/config/document.hpp>
#include <keel/config/registry.hpp>
#include <keel/pg/service.hpp>

#include "harness/pg/cluster.hpp"
#include <asio/io_context.hpp>
#include <asio/use_awaitable.hpp>
#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace keel::test::pg {
cluster& shared_cluster();
}

namespace {

namespace config = keel::config;
namespace kp = keel::pg;

TEST(pg_service, a_configured_dependency_against_the_cluster) {
    const std::string yaml = "version: 1\ndependencies:\n  orders-db:\n    kind: postgres\n"
                             "    timeout: {connect: 1s, exchange: 2s}\n"
                             "    connection: {dsn: \"" +
                             keel::test::pg::shared_cluster().dsn() + "\", pool_size: 2}\n";
    const auto doc = config::load_string(yaml);
    asio::io_context io;
    config::registry policies(io.get_executor(), doc);
    std::optional<kp::service> orders;
    orders.emplace(io.get_executor(), policies, "orders-db");
    EXPECT_EQ(orders->client().options().size, 2u);
    std::optional<std::error_code> ec;
    kp::result r;
    orders->async_query(kp::idempotent("SELECT $1::int + 1", 41),
                        [&](std::error_code e, kp::result res) {
                            ec = e;
                            r = std::move(res);
                        });
    while (!ec && io.run_one_for(std::chrono::seconds(20))) {
    }
    ASSERT_TRUE(ec.has_value());
    EXPECT_FALSE(*ec) << ec->message();
    EXPECT_EQ(r.get<int>(0, 0), 42);
    std::optional<std::error_code> tx;
    orders->async_transaction(
        [](kp::transaction& t) -> asio::awaitable<void> {
            co_await t.async_query(kp::statement("SELECT 1"), asio::use_awaitable);
        },
        kp::isolation::repeatable_read, [&](std::error_code e) { tx = e; });
    while (!tx && io.run_one_for(std::chrono::seconds(20))) {
    }
    ASSERT_TRUE(tx.has_value());
    EXPECT_FALSE(*tx) << tx->message();

    // With a report: the server's own error, one attempt (permanent).
    keel::call_report report;
    std::optional<std::error_code> bad;
    orders->async_query(kp::idempotent("SELECT no_such_column"), report,
                        [&](std::error_code e, kp::result) { bad = e; });
    while (!bad && io.run_one_for(std::chrono::seconds(20))) {
    }
    ASSERT_TRUE(bad.has_value());
    EXPECT_EQ(*bad, kp::sqlstate("42703"));
    EXPECT_EQ(report.attempts, 1);
    EXPECT_EQ(report.last_operation_error, *bad);

    keel::call_report tx_report;
    std::optional<std::error_code> failed_tx;
    orders->async_transaction(
        [](kp::transaction& t) -> asio::awaitable<void> {
            co_await t.async_query(kp::statement("SELECT 1 / 0"), asio::use_awaitable);
        },
        kp::isolation::read_committed, tx_report, [&](std::error_code e) { failed_tx = e; });
    while (!failed_tx && io.run_one_for(std::chrono::seconds(20))) {
    }
    ASSERT_TRUE(failed_tx.has_value());
    EXPECT_EQ(*failed_tx, kp::sqlstate("22012"));
    EXPECT_EQ(tx_report.attempts, 1);
    EXPECT_EQ(tx_report.last_operation_error, *failed_tx);

    // The old names stay one release, deprecated: the accessor is the pool,
    // and the free function runs the pool's transaction.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    EXPECT_EQ(&orders->connections(), &orders->client());
    std::optional<std::error_code> free_tx;
    kp::async_transaction(
        orders->client(), orders->pipeline(),
        [](kp::transaction& t) -> asio::awaitable<void> {
            co_await t.async_query(kp::statement("SELECT 1"), asio::use_awaitable);
        },
        kp::isolation::read_committed, [&](std::error_code e) { free_tx = e; });
#pragma GCC diagnostic pop
    while (!free_tx && io.run_one_for(std::chrono::seconds(20))) {
    }
    ASSERT_TRUE(free_tx.has_value());
    EXPECT_FALSE(*free_tx) << free_tx->message();
    orders.reset();
    io.run();
}

} // namespace
