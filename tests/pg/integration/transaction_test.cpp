// pg transactions against a real PostgreSQL 15 (tools/harness/pg/cluster.hpp):
// retried on 40001 and 40P01, rolled back on a body's error or its deadline,
// and a commit whose outcome is unknown is not run again.
#include <keel/error.hpp>
#include <keel/pg/pool.hpp>
#include <keel/pg/transaction.hpp>
#include <keel/pipeline.hpp>

#include "pool_fixture.hpp"
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <system_error>

namespace {

using namespace keel::test::pg_integration;

/// The pool fixture, under the name of what these tests exercise.
class pg_transaction : public pg_pool {};

// ---- a commit whose outcome is unknown ----------------------------------------------------

TEST_F(pg_transaction, connection_lost_during_commit_is_outcome_unknown_and_not_retried) {
    shared_cluster().exec(R"sql(
        CREATE TABLE IF NOT EXISTS slow_commit (id int);
        CREATE OR REPLACE FUNCTION slow_commit_check() RETURNS trigger LANGUAGE plpgsql AS
          $$ BEGIN PERFORM pg_sleep(30); RETURN NULL; END $$;
        DROP TRIGGER IF EXISTS slow_commit_trigger ON slow_commit;
        CREATE CONSTRAINT TRIGGER slow_commit_trigger AFTER INSERT ON slow_commit
          DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit_check();
    )sql");
    auto& p = make_pool(1, shared_cluster().dsn("application_name=lostcommit"));
    keel::pipeline pipeline(context_, "db", fast_retries(3));
    std::optional<std::error_code> result;
    auto killer = terminate_when_running("lostcommit", "COMMIT%");
    int bodies = 0;
    p.async_transaction(
        pipeline,
        [&](pg::transaction& tx) -> asio::awaitable<void> {
            ++bodies;
            co_await tx.async_query(pg::statement("INSERT INTO slow_commit VALUES (1)"),
                                    asio::use_awaitable);
        },
        pg::isolation::read_committed, [&](std::error_code ec) { result = ec; });
    // Not retried: the body ran once.
    run_until([&] { return result.has_value(); });
    killer.join();
    EXPECT_EQ(*result, pg::errc::commit_outcome_unknown) << result->message();
    EXPECT_EQ(bodies, 1);
}

// ---- transactions retried -----------------------------------------------------------------

/// Runs two transactions whose first attempts meet at a barrier after
/// their first statement, so that they conflict; later attempts run alone.
struct two_transactions {
    int attempts[2] = {0, 0};
    int at_barrier = 0;
    std::optional<std::error_code> results[2];
};

asio::awaitable<void> barrier(two_transactions& t, asio::steady_timer& wake) {
    if (++t.at_barrier == 2) {
        wake.cancel();
        co_return;
    }
    std::error_code ignored;
    wake.expires_after(30s);
    co_await wake.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
}

TEST_F(pg_transaction, serialization_failures_are_retried_to_success) {
    shared_cluster().exec("DROP TABLE IF EXISTS ledger; CREATE TABLE ledger (k int, v int)");
    auto& p = make_pool(2);
    keel::pipeline pipeline(context_, "db", fast_retries(5));
    two_transactions t;
    asio::steady_timer wake(context_);
    for (int i = 0; i < 2; ++i) {
        p.async_transaction(
            pipeline,
            [&, i](pg::transaction& tx) -> asio::awaitable<void> {
                const bool first = ++t.attempts[i] == 1;
                // Each reads what the other writes: a cycle SERIALIZABLE refuses.
                co_await tx.async_query(
                    pg::statement("SELECT count(*) FROM ledger WHERE k = $1", 1 - i),
                    asio::use_awaitable);
                if (first)
                    co_await barrier(t, wake);
                co_await tx.async_query(pg::statement("INSERT INTO ledger VALUES ($1, 1)", i),
                                        asio::use_awaitable);
            },
            pg::isolation::serializable, [&, i](std::error_code ec) { t.results[i] = ec; });
    }
    run_until([&] { return t.results[0] && t.results[1]; });
    EXPECT_FALSE(*t.results[0]) << t.results[0]->message();
    EXPECT_FALSE(*t.results[1]) << t.results[1]->message();
    EXPECT_EQ(t.attempts[0] + t.attempts[1], 3); // one of them ran twice
    EXPECT_EQ(shared_cluster().exec("SELECT count(*) FROM ledger"), "2");
}

TEST_F(pg_transaction, deadlocks_are_retried_to_success) {
    shared_cluster().exec("DROP TABLE IF EXISTS accounts; CREATE TABLE accounts (id int PRIMARY "
                          "KEY, balance int); INSERT INTO accounts VALUES (0, 100), (1, 100)");
    auto& p = make_pool(2);
    keel::pipeline pipeline(context_, "db", fast_retries(5));
    two_transactions t;
    asio::steady_timer wake(context_);
    for (int i = 0; i < 2; ++i) {
        p.async_transaction(
            pipeline,
            [&, i](pg::transaction& tx) -> asio::awaitable<void> {
                const bool first = ++t.attempts[i] == 1;
                // Opposite order: each holds the row the other wants next.
                co_await tx.async_query(
                    pg::statement("UPDATE accounts SET balance = balance - 1 WHERE id = $1", i),
                    asio::use_awaitable);
                if (first)
                    co_await barrier(t, wake);
                co_await tx.async_query(
                    pg::statement("UPDATE accounts SET balance = balance + 1 WHERE id = $1", 1 - i),
                    asio::use_awaitable);
            },
            pg::isolation::read_committed, [&, i](std::error_code ec) { t.results[i] = ec; });
    }
    run_until([&] { return t.results[0] && t.results[1]; });
    EXPECT_FALSE(*t.results[0]) << t.results[0]->message();
    EXPECT_FALSE(*t.results[1]) << t.results[1]->message();
    EXPECT_EQ(t.attempts[0] + t.attempts[1], 3);
    EXPECT_EQ(shared_cluster().exec("SELECT sum(balance) FROM accounts"), "200");
}

TEST_F(pg_transaction, transaction_body_error_rolls_back_and_is_not_retried_when_permanent) {
    shared_cluster().exec("DROP TABLE IF EXISTS rolled; CREATE TABLE rolled (id int PRIMARY KEY)");
    auto& p = make_pool(1);
    keel::pipeline pipeline(context_, "db", fast_retries(3));
    int bodies = 0;
    std::optional<std::error_code> result;
    p.async_transaction(
        pipeline,
        [&](pg::transaction& tx) -> asio::awaitable<void> {
            ++bodies;
            co_await tx.async_query(pg::statement("INSERT INTO rolled VALUES (1)"),
                                    asio::use_awaitable);
            co_await tx.async_query(pg::statement("INSERT INTO rolled VALUES (1)"),
                                    asio::use_awaitable);
        },
        pg::isolation::read_committed, [&](std::error_code ec) { result = ec; });
    run_until([&] { return result.has_value(); });
    EXPECT_EQ(*result, pg::sqlstate("23505"));
    EXPECT_EQ(bodies, 1);
    EXPECT_EQ(shared_cluster().exec("SELECT count(*) FROM rolled"), "0");
    // The connection went back clean and is reused.
    EXPECT_FALSE(query(p, pg::statement("SELECT 1")).ec);
    EXPECT_EQ(p.stats().opened, 1u);
}

TEST_F(pg_transaction, a_transaction_cut_short_by_its_deadline_is_rolled_back_and_run_again) {
    shared_cluster().exec("DROP TABLE IF EXISTS cut; CREATE TABLE cut (attempt int)");
    auto& p = make_pool(1);
    keel::pipeline_policy policy = fast_retries(2);
    policy.timeout.exchange = 300ms;
    keel::pipeline pipeline(context_, "db", policy);
    int bodies = 0;
    std::optional<std::error_code> result;
    p.async_transaction(
        pipeline,
        [&](pg::transaction& tx) -> asio::awaitable<void> {
            const int attempt = ++bodies;
            co_await tx.async_query(pg::statement("INSERT INTO cut VALUES ($1)", attempt),
                                    asio::use_awaitable);
            if (attempt == 1) // runs past the exchange deadline
                co_await tx.async_query(pg::statement("SELECT pg_sleep(30)"), asio::use_awaitable);
        },
        pg::isolation::read_committed, [&](std::error_code ec) { result = ec; });
    run_until([&] { return result.has_value(); });
    EXPECT_FALSE(*result) << result->message();
    EXPECT_EQ(bodies, 2);
    // The first attempt's insert went with its connection.
    EXPECT_EQ(shared_cluster().exec("SELECT string_agg(attempt::text, ',') FROM cut"), "2");
    EXPECT_EQ(p.stats().opened, 2u);
}

} // namespace
