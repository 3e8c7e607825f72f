// keel::pg::service: a pool and a pipeline from a `kind: postgres`
// dependency; bad connection sections name the file, line, column and key.
#include <keel/config/document.hpp>
#include <keel/config/registry.hpp>
#include <keel/pg/service.hpp>

#include "support/cluster.hpp"
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

TEST(pg_config, connection_section) {
    const auto doc = config::load_string(R"(version: 1
dependencies:
  orders-db:
    kind: postgres
    connection: {dsn: "host=db port=5432 dbname=orders", pool_size: 8, cancel_grace: 1s500ms}
)");
    const kp::pool_options o = kp::options_from(doc.dependencies[0]);
    EXPECT_EQ(o.dsn, "host=db port=5432 dbname=orders");
    EXPECT_EQ(o.size, 8u);
    EXPECT_EQ(o.cancel_grace, std::chrono::milliseconds(1500));
}

TEST(pg_config, a_typo_in_the_connection_section_gets_a_suggestion) {
    const auto doc = config::load_string(R"(version: 1
dependencies:
  a: {kind: postgres, connection: {dsn: "host=x", pool_sise: 2, cancel_grace: unlimited}}
)",
                                         "svc.yaml");
    std::string what = "accepted";
    try {
        kp::options_from(doc.dependencies[0]);
    } catch (const config::config_error& e) {
        what = e.what();
    }
    EXPECT_EQ(what, "svc.yaml:3:51: error: dependencies.a.connection.pool_sise: unknown key "
                    "'pool_sise' (did you mean 'pool_size'?); expected one of: dsn, pool_size, "
                    "cancel_grace\n"
                    "svc.yaml:3:79: error: dependencies.a.connection.cancel_grace: cannot be "
                    "unlimited");
}

TEST(pg_config, bad_connection_sections_say_where) {
    const auto doc = config::load_string(R"(version: 1
dependencies:
  a: {kind: postgres, connection: {dsn: "host=x", pool_size: 0, grace: 1s}}
  b: {kind: postgres, connection: {pool_size: 2, cancel_grace: 5}}
  c: {kind: http}
  d: {kind: postgres}
)",
                                         "svc.yaml");
    const auto message_of = [&](int i) {
        try {
            kp::options_from(doc.dependencies[static_cast<std::size_t>(i)]);
        } catch (const config::config_error& e) {
            return std::string(e.what());
        }
        return std::string("accepted");
    };
    const std::string a = message_of(0);
    EXPECT_NE(a.find("svc.yaml:3:62: error: dependencies.a.connection.pool_size: expected a whole "
                     "number >= 1, got \"0\""),
              std::string::npos)
        << a;
    EXPECT_NE(a.find("dependencies.a.connection.grace: unknown key 'grace'; expected one of: dsn, "
                     "pool_size, cancel_grace"),
              std::string::npos)
        << a;
    const std::string b = message_of(1);
    EXPECT_NE(b.find("dependencies.b.connection.dsn: is required"), std::string::npos) << b;
    EXPECT_NE(b.find("dependencies.b.connection.cancel_grace:"), std::string::npos) << b;
    const std::string c = message_of(2);
    EXPECT_NE(c.find("svc.yaml:5:3: error: dependencies.c: is kind http, not postgres"),
              std::string::npos)
        << c;
    const std::string d = message_of(3);
    EXPECT_NE(d.find("svc.yaml:6:3: error: dependencies.d.connection.dsn: is required"),
              std::string::npos)
        << d;
}

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
