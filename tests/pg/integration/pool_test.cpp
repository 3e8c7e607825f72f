// keel::pg's pool against a real PostgreSQL 15 (tools/harness/pg/cluster.hpp):
// results, errors as the pipeline sees them, server-side cancellation, pool
// bounds and deadlines, connect timeouts, statements whose outcome is unknown,
// and a server stopped under load. Transactions: transaction_test.cpp.
#include <keel/error.hpp>
#include <keel/fault.hpp>
#include <keel/pg/pool.hpp>
#include <keel/pg/transaction.hpp>
#include <keel/pipeline.hpp>

#include "harness/http/test_server.hpp"
#include "harness/pg/cluster.hpp"
#include "pool_fixture.hpp"
#include <asio/bind_cancellation_slot.hpp>
#include <asio/bind_executor.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>

namespace keel::test::pg {
/// One cluster for every test that does not stop it (started on first use).
cluster& shared_cluster() {
    static cluster instance({"deadlock_timeout=100ms"});
    return instance;
}
} // namespace keel::test::pg

namespace {

using namespace keel::test::pg_integration;

// ---- results ------------------------------------------------------------------------------

TEST_F(pg_pool, select_with_parameters_gives_typed_values_and_nulls) {
    auto& p = make_pool();
    auto out = query(p, pg::statement("SELECT $1::int AS n, $2::text AS s, NULL::int AS missing, "
                                      "true AS yes, 2.5::float8 AS x, $3::bigint AS big",
                                      42, "hello", std::int64_t{1} << 40));
    ASSERT_FALSE(out.ec) << out.ec.message() << ": " << out.r.error_message();
    ASSERT_EQ(out.r.rows(), 1);
    ASSERT_EQ(out.r.columns(), 6);
    EXPECT_EQ(out.r.column_name(1), "s");
    EXPECT_EQ(out.r.column_index("missing"), 2);
    EXPECT_EQ(out.r.column_index("nope"), -1);
    EXPECT_EQ(out.r.get<std::int32_t>(0, 0), 42);
    EXPECT_EQ(out.r.get<std::string>(0, 1), "hello");
    EXPECT_TRUE(out.r.is_null(0, 2));
    EXPECT_EQ(out.r.get_optional<std::int32_t>(0, 2), std::nullopt);
    EXPECT_THROW(out.r.get<std::int32_t>(0, 2), std::invalid_argument);
    EXPECT_TRUE(out.r.get<bool>(0, 3));
    EXPECT_DOUBLE_EQ(out.r.get<double>(0, 4), 2.5);
    EXPECT_EQ(out.r.get<std::int64_t>(0, 5), std::int64_t{1} << 40);
    EXPECT_THROW(out.r.get<std::int32_t>(0, 1), std::invalid_argument);
    EXPECT_THROW(out.r.text(1, 0), std::out_of_range);
    EXPECT_EQ(out.r.command_tag(), "SELECT 1");
}

TEST_F(pg_pool, handler_runs_once_on_its_own_executor_never_inside_the_initiation) {
    auto& p = make_pool(1);
    asio::io_context elsewhere;
    std::atomic<int> calls{0};
    std::thread::id ran_on;
    p.async_query(pg::statement("SELECT 1"), {},
                  asio::bind_executor(elsewhere, [&](std::error_code ec, pg::result r) {
                      EXPECT_FALSE(ec);
                      EXPECT_EQ(r.get<int>(0, 0), 1);
                      ran_on = std::this_thread::get_id();
                      ++calls;
                  }));
    EXPECT_EQ(calls, 0); // not inside the initiating function
    // The handler's executor is kept busy (work) until the handler ran there.
    std::thread other([&] { elsewhere.run(); });
    const auto other_id = other.get_id();
    context_.restart();
    while (calls == 0)
        context_.run_for(10ms);
    other.join();
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(ran_on, other_id);
}

TEST_F(pg_pool, null_parameter_and_affected_rows) {
    auto& p = make_pool();
    ASSERT_FALSE(query(p, pg::statement("CREATE TEMP TABLE t (a int, b text)")).ec);
    // Temporary tables are per connection: run on a pool of one.
    auto& one = make_pool(1);
    ASSERT_FALSE(query(one, pg::statement("CREATE TEMP TABLE t (a int, b text)")).ec);
    auto insert = query(one, pg::statement("INSERT INTO t VALUES ($1, $2), ($1, 'x')", 7,
                                           std::optional<std::string>()));
    ASSERT_FALSE(insert.ec) << insert.r.error_message();
    EXPECT_EQ(insert.r.affected_rows(), 2);
    auto count = query(one, pg::statement("SELECT count(*) FROM t WHERE b IS NULL"));
    EXPECT_EQ(count.r.get<std::int64_t>(0, 0), 1);
}

// ---- classification -----------------------------------------------------------------------

TEST_F(pg_pool, constraint_violation_is_permanent_and_not_retried) {
    auto& p = make_pool();
    ASSERT_FALSE(
        query(p, pg::statement("CREATE TABLE IF NOT EXISTS uniq (id int PRIMARY KEY)")).ec);
    ASSERT_FALSE(query(p, pg::statement("INSERT INTO uniq VALUES (1) ON CONFLICT DO NOTHING")).ec);
    keel::pipeline pipeline(context_, "db", fast_retries(3));
    keel::call_report report;
    query_outcome out;
    pipeline.async_run<void(std::error_code, pg::result)>(
        [&](const keel::attempt& a, auto&& token) {
            pg::query_options o;
            o.attempt = &a;
            return p.async_query(pg::idempotent("INSERT INTO uniq VALUES (1)"), o,
                                 std::move(token));
        },
        report,
        [&](std::error_code ec, pg::result r) {
            out = {true, ec, std::move(r)};
        });
    run_until([&] { return out.done; });
    EXPECT_EQ(out.ec, pg::sqlstate("23505"));
    EXPECT_EQ(out.r.sqlstate(), "23505");
    EXPECT_NE(out.r.error_message().find("duplicate key"), std::string_view::npos);
    EXPECT_EQ(report.attempts, 1);
    EXPECT_EQ(report.fault, keel::fault_class::permanent);

    auto syntax = query(p, pg::statement("SELEC 1"));
    EXPECT_EQ(syntax.ec, pg::sqlstate("42601"));
}

// ---- cancellation -------------------------------------------------------------------------

/// The state pg_stat_activity shows for backend `pid`.
std::string backend_state(int pid) {
    return shared_cluster().exec("SELECT state FROM pg_stat_activity WHERE pid = " +
                                 std::to_string(pid));
}

TEST_F(pg_pool, sleep_beyond_the_exchange_deadline_is_a_timeout_and_cancelled_on_the_server) {
    auto& p = make_pool(1);
    const int pid = query(p, pg::statement("SELECT pg_backend_pid()")).r.get<int>(0, 0);
    keel::pipeline_policy policy = fast_retries(1);
    policy.timeout.exchange = 200ms;
    keel::pipeline pipeline(context_, "db", policy);
    query_outcome out;
    p.async_call(pipeline, pg::idempotent("SELECT pg_sleep(30)"),
                 [&](std::error_code ec, pg::result r) {
                     out = {true, ec, std::move(r)};
                 });
    run_until([&] { return out.done; });
    EXPECT_EQ(out.ec, keel::errc::exchange_timeout) << out.ec.message();
    // The pool's one connection comes back once the server stopped the
    // sleep: the same backend, idle again, not replaced.
    auto again = query(p, pg::statement("SELECT pg_backend_pid()"));
    ASSERT_FALSE(again.ec) << again.ec.message();
    EXPECT_EQ(again.r.get<int>(0, 0), pid);
    EXPECT_EQ(backend_state(pid), "idle");
    EXPECT_EQ(p.stats().closed_broken, 0u);
    EXPECT_EQ(p.stats().opened, 1u);
}

TEST_F(pg_pool, caller_cancellation_stops_the_query_on_the_server) {
    auto& p = make_pool(1);
    const int pid = query(p, pg::statement("SELECT pg_backend_pid()")).r.get<int>(0, 0);
    asio::cancellation_signal signal;
    query_outcome out;
    p.async_query(
        pg::statement("SELECT pg_sleep(30)"), {},
        asio::bind_cancellation_slot(signal.slot(), [&](std::error_code ec, pg::result r) {
            out = {true, ec, std::move(r)};
        }));
    // Cancel once the server runs it (as pg_stat_activity shows).
    std::thread watcher([&] {
        session s(shared_cluster().dsn());
        while (s.exec("SELECT state FROM pg_stat_activity WHERE pid = " + std::to_string(pid)) !=
               "active")
            std::this_thread::sleep_for(5ms);
        asio::post(context_, [&] { signal.emit(asio::cancellation_type::terminal); });
    });
    run_until([&] { return out.done; });
    watcher.join();
    EXPECT_EQ(out.ec, asio::error::operation_aborted);
    auto again = query(p, pg::statement("SELECT pg_backend_pid()"));
    ASSERT_FALSE(again.ec);
    EXPECT_EQ(again.r.get<int>(0, 0), pid);
    EXPECT_EQ(backend_state(pid), "idle");
}

// ---- pool bounds and connect deadlines ----------------------------------------------------

TEST_F(pg_pool, exhausted_pool_fails_at_the_deadline) {
    auto& p = make_pool(1);
    session holder(shared_cluster().dsn());
    holder.exec("SELECT pg_advisory_lock(4242)");
    // The pool's only connection waits for the lock the holder has.
    query_outcome blocked;
    p.async_query(pg::statement("SELECT pg_advisory_lock(4242), pg_advisory_unlock(4242)"), {},
                  [&](std::error_code ec, pg::result r) {
                      blocked = {true, ec, std::move(r)};
                  });
    pg::query_options o;
    o.connect_timeout = 100ms;
    query_outcome second;
    p.async_query(pg::statement("SELECT 1"), o, [&](std::error_code ec, pg::result r) {
        second = {true, ec, std::move(r)};
    });
    run_until([&] { return second.done; });
    EXPECT_EQ(second.ec, pg::errc::pool_exhausted);
    EXPECT_TRUE(second.ec == keel::condition::timeout);
    EXPECT_FALSE(blocked.done);
    EXPECT_EQ(p.stats().open, 1u);
    holder.exec("SELECT pg_advisory_unlock(4242)");
    run_until([&] { return blocked.done; });
    EXPECT_FALSE(blocked.ec) << blocked.ec.message();
}

TEST_F(pg_pool, an_idle_connection_the_server_closed_leaves_the_pool_before_its_next_use) {
    auto& p = make_pool(2);
    const int pid = query(p, pg::statement("SELECT pg_backend_pid()")).r.get<int>(0, 0);
    ASSERT_EQ(p.stats().idle, 1u);
    shared_cluster().exec("SELECT pg_terminate_backend(" + std::to_string(pid) + ")");
    // Noticed by the idle connection's own read wait, with no call running.
    run_until([&] { return p.stats().closed_broken == 1; });
    EXPECT_EQ(p.stats().open, 0u);
    EXPECT_EQ(p.stats().idle, 0u);
    auto again = query(p, pg::statement("SELECT pg_backend_pid()"));
    ASSERT_FALSE(again.ec) << again.ec.message();
    EXPECT_NE(again.r.get<int>(0, 0), pid);
    EXPECT_EQ(p.stats().opened, 2u);
}

TEST_F(pg_pool, full_accept_queue_is_a_connect_timeout) {
    keel::test::http::full_listener full;
    auto& p = make_pool(1, "host=127.0.0.1 port=" + std::to_string(full.port()) +
                               " user=postgres dbname=postgres");
    keel::pipeline_policy policy = fast_retries(1);
    policy.timeout.connect = 150ms;
    keel::pipeline pipeline(context_, "db", policy);
    keel::call_report report;
    query_outcome out;
    pipeline.async_run<void(std::error_code, pg::result)>(
        [&](const keel::attempt& a, auto&& token) {
            pg::query_options o;
            o.attempt = &a;
            return p.async_query(pg::idempotent("SELECT 1"), o, std::move(token));
        },
        report,
        [&](std::error_code ec, pg::result r) {
            out = {true, ec, std::move(r)};
        });
    run_until([&] { return out.done; });
    EXPECT_EQ(out.ec, keel::errc::connect_timeout) << out.ec.message();
    EXPECT_EQ(p.stats().open, 0u); // the half-open connection was abandoned
}

TEST_F(pg_pool, refused_connection_is_transient_and_retried) {
    std::uint16_t port = 0;
    {
        asio::ip::tcp::acceptor probe(context_, {asio::ip::make_address("127.0.0.1"), 0});
        port = probe.local_endpoint().port();
    }
    auto& p = make_pool(1, "host=127.0.0.1 port=" + std::to_string(port) + " user=postgres");
    keel::pipeline pipeline(context_, "db", fast_retries(3));
    keel::call_report report;
    query_outcome out;
    pipeline.async_run<void(std::error_code, pg::result)>(
        [&](const keel::attempt& a, auto&& token) {
            pg::query_options o;
            o.attempt = &a;
            return p.async_query(pg::idempotent("SELECT 1"), o, std::move(token));
        },
        report,
        [&](std::error_code ec, pg::result r) {
            out = {true, ec, std::move(r)};
        });
    run_until([&] { return out.done; });
    EXPECT_EQ(out.ec, pg::errc::connect_failed);
    EXPECT_NE(out.r.error_message().find("refused"), std::string_view::npos)
        << out.r.error_message();
    EXPECT_EQ(report.attempts, 3);
}

TEST_F(pg_pool, too_many_clients_is_53300_and_transient) {
    shared_cluster().exec("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = "
                          "'limited') THEN CREATE ROLE limited LOGIN CONNECTION LIMIT 2; END IF; "
                          "END $$");
    const std::string limited = "host=127.0.0.1 port=" + std::to_string(shared_cluster().port()) +
                                " user=limited dbname=postgres";
    auto& p = make_pool(1, limited);
    {
        session first(limited);
        session second(limited);
        auto out = query(p, pg::idempotent("SELECT 1"));
        EXPECT_EQ(out.ec, pg::sqlstate("53300"))
            << out.ec.message() << ": " << out.r.error_message();
        EXPECT_EQ(keel::classify(out.ec), keel::fault_class::transient);
    }
    // Room again once the two backends have exited (asynchronously, after
    // their clients left): retried, as a transient error is.
    keel::pipeline pipeline(context_, "db", fast_retries(50));
    query_outcome out;
    p.async_call(pipeline, pg::idempotent("SELECT 1"), [&](std::error_code ec, pg::result r) {
        out = {true, ec, std::move(r)};
    });
    run_until([&] { return out.done; });
    EXPECT_FALSE(out.ec) << out.ec.message();
}

// ---- non-idempotent statements ----------------------------------------------------------

TEST_F(pg_pool, non_idempotent_statement_is_not_retried_when_its_outcome_is_unknown) {
    auto& p = make_pool(1, shared_cluster().dsn("application_name=noretry"));
    keel::pipeline pipeline(context_, "db", fast_retries(3));
    keel::call_report report;
    query_outcome out;
    auto killer = terminate_when_running("noretry", "SELECT pg_sleep(30)%");
    pipeline.async_run<void(std::error_code, pg::result)>(
        [&](const keel::attempt& a, auto&& token) {
            pg::query_options o;
            o.attempt = &a;
            return p.async_query(pg::statement("SELECT pg_sleep(30) /* not idempotent */"), o,
                                 std::move(token));
        },
        report,
        [&](std::error_code ec, pg::result r) {
            out = {true, ec, std::move(r)};
        });
    run_until([&] { return out.done; });
    killer.join();
    EXPECT_TRUE(out.ec == pg::sqlstate("57P01") || out.ec == pg::errc::connection_lost)
        << out.ec.message();
    EXPECT_EQ(report.attempts, 1);
    EXPECT_EQ(report.reason, keel::give_up_reason::not_retryable);
}

TEST_F(pg_pool, idempotent_statement_is_retried_after_its_backend_died) {
    auto& p = make_pool(1, shared_cluster().dsn("application_name=retry"));
    keel::pipeline pipeline(context_, "db", fast_retries(3));
    keel::call_report report;
    query_outcome out;
    // The first attempt waits for a lock the test holds until it has killed
    // that attempt's backend; the second gets the lock.
    session holder(shared_cluster().dsn());
    holder.exec("SELECT pg_advisory_lock(77)");
    auto killer = terminate_when_running("retry", "SELECT pg_advisory_lock(77)%",
                                         [&] { holder.exec("SELECT pg_advisory_unlock(77)"); });
    pipeline.async_run<void(std::error_code, pg::result)>(
        [&](const keel::attempt& a, auto&& token) {
            pg::query_options o;
            o.attempt = &a;
            return p.async_query(
                pg::idempotent("SELECT pg_advisory_lock(77), pg_advisory_unlock(77)"), o,
                std::move(token));
        },
        report,
        [&](std::error_code ec, pg::result r) {
            out = {true, ec, std::move(r)};
        });
    run_until([&] { return out.done; });
    killer.join();
    EXPECT_FALSE(out.ec) << out.ec.message();
    EXPECT_EQ(report.attempts, 2);
    EXPECT_EQ(p.stats().closed_broken, 1u);
}

// ---- a server stopped under load ----------------------------------------------------------

TEST_F(pg_pool, immediate_server_stop_under_load_loses_no_acknowledged_insert) {
    cluster own;
    own.exec("CREATE TABLE events (id int PRIMARY KEY)");
    auto& p = make_pool(4, own.dsn());
    keel::pipeline_policy policy;
    policy.retry.max_attempts = 100;
    policy.retry.backoff.kind = keel::backoff_kind::constant;
    policy.retry.backoff.initial = 20ms;
    policy.retry.backoff.jitter = keel::jitter_kind::none;
    policy.timeout.connect = 1s;
    policy.timeout.exchange = 2s;
    policy.timeout.total = 30s;
    keel::pipeline pipeline(context_, "events", policy);

    constexpr int total = 300;
    constexpr int concurrency = 8;
    int next = 0;
    int finished = 0;
    std::set<int> acknowledged;
    std::vector<std::error_code> failures;
    std::thread restarter;
    std::atomic<bool> restarted{false};
    std::function<void()> launch = [&] {
        const int id = next++;
        p.async_call(pipeline,
                     pg::idempotent("INSERT INTO events VALUES ($1) ON CONFLICT DO NOTHING", id),
                     [&, id](std::error_code ec, pg::result) {
                         ++finished;
                         if (ec)
                             failures.push_back(ec);
                         else
                             acknowledged.insert(id);
                         // A third of the way in, the server goes down hard.
                         if (acknowledged.size() == total / 3 && !restarter.joinable())
                             restarter = std::thread([&] {
                                 own.stop_immediately();
                                 // Started from the test's main thread: the
                                 // server dies with the thread that forked it.
                                 asio::post(context_, [&] {
                                     own.start();
                                     restarted = true;
                                 });
                             });
                         if (next < total)
                             launch();
                     });
    };
    for (int i = 0; i < concurrency; ++i)
        launch();
    run_until([&] { return finished == total; });
    restarter.join();
    EXPECT_TRUE(restarted);
    EXPECT_TRUE(failures.empty()) << failures.size()
                                  << " failed, first: " << failures.front().message();
    EXPECT_EQ(acknowledged.size(), static_cast<std::size_t>(total));
    EXPECT_GE(p.stats().closed_broken, 1u); // the stop was felt
    // Every acknowledged insert is there, once.
    EXPECT_EQ(own.exec("SELECT count(*) FROM events"), std::to_string(total));
    EXPECT_EQ(own.exec("SELECT count(DISTINCT id) FROM events WHERE id >= 0 AND id < " +
                       std::to_string(total)),
              std::to_string(total));
}

} // namespace
