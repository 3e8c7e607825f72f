// Fault injection with keel::pg against a real PostgreSQL (issue 25): a
// `statement:` rule injects only into statements of that name; rules in a
// YAML file reach a running pool's calls and a reload turns them off; and an
// injected pg_57P03 ends a call as a real one does -- the same error, fault
// class, call report and breaker window -- the real one from a server in a
// smart shutdown, which refuses new connections with 57P03 while a session
// keeps it up; and so does an injected connection_refused, keel::pg's
// connect_failed, as a pool on a closed loopback port gets it.
#include <keel/circuit_breaker.hpp>
#include <keel/config/document.hpp>
#include <keel/config/registry.hpp>
#include <keel/fault_injection.hpp>
#include <keel/pg/error.hpp>
#include <keel/pg/pool.hpp>
#include <keel/pipeline.hpp>
#include <keel/reporting_pipeline.hpp>

#include "harness/pg/cluster.hpp"
#include "pool_fixture.hpp"
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using namespace keel::test::pg_integration;
namespace config = keel::config;

using chain_pipeline = keel::basic_pipeline<asio::steady_timer, keel::null_observer,
                                            asio::any_io_executor, keel::strategy_chain>;

class pg_fault_injection : public pg_pool {
protected:
    void SetUp() override {
        keel::enable_fault_injection(true);
        shared_cluster().exec("CREATE TABLE IF NOT EXISTS fault_hits (name text NOT NULL)");
        shared_cluster().exec("TRUNCATE fault_hits");
    }
    void TearDown() override {
        keel::enable_fault_injection(false);
        pg_pool::TearDown();
    }

    /// A dependency `db` (kind: postgres) with `extra` lines under it.
    static config::document dependency(const std::string& extra = {}) {
        return config::load_string("version: 1\ndependencies:\n  db:\n    kind: postgres\n"
                                   "    retry: { max_attempts: 1 }\n" +
                                   extra);
    }

    /// Inserts a row naming `name` through `pipeline`, as a statement named
    /// `name`; the call's error.
    template <class Pipeline>
    std::error_code hit(pg::pool& p, Pipeline& pipeline, const std::string& name) {
        query_outcome out;
        p.async_call(pipeline,
                     pg::statement("INSERT INTO fault_hits (name) VALUES ($1)", name).named(name),
                     [&](std::error_code ec, pg::result r) {
                         out = {true, ec, std::move(r)};
                     });
        run_until([&] { return out.done; });
        return out.ec;
    }

    /// How many of `name`'s statements reached the server.
    static int hits(const std::string& name) {
        return std::stoi(
            shared_cluster().exec("SELECT count(*) FROM fault_hits WHERE name = '" + name + "'"));
    }

    struct seen {
        query_outcome out;
        keel::call_report report;
        keel::circuit_snapshot window;
    };
    /// One pool::async_call of `SELECT 1` on `p` through a fresh breaker:
    /// two attempts, transient errors retried, `plan`'s faults injected.
    seen call_through_breaker(pg::pool& p, std::shared_ptr<keel::fault_plan> plan) {
        keel::pipeline_policy policy = fast_retries(2);
        policy.retry.retry_on = {keel::fault_class::transient};
        policy.timeout.total = 10s;
        policy.faults = std::move(plan);
        auto breaker = std::make_shared<keel::circuit_breaker>(keel::circuit_breaker_settings{});
        auto chain = std::make_shared<keel::strategy_chain>();
        chain->breaker = breaker;
        policy.strategies = chain;
        chain_pipeline pipeline(context_, "db", policy);
        seen s;
        p.async_call(keel::with_report(pipeline, s.report), pg::idempotent("SELECT 1"),
                     [&](std::error_code ec, pg::result r) {
                         s.out = {true, ec, std::move(r)};
                     });
        run_until([&] { return s.out.done; });
        s.window = breaker->snapshot(keel::clock_ticks(0));
        return s;
    }

    /// A plan that injects `error_name` into every attempt.
    static std::shared_ptr<keel::fault_plan> always(const std::string& error_name) {
        std::string why;
        keel::fault_rule rule;
        rule.kind = keel::fault_kind::error;
        rule.rate = 1.0;
        rule.error_name = error_name;
        rule.error = *keel::fault_error_from_name(rule.error_name, why);
        return std::make_shared<keel::fault_plan>(std::vector<keel::fault_rule>{rule});
    }

    /// That `injected` ended as `real` did: error, fault class, call report
    /// and breaker window.
    static void expect_same_end(const seen& injected, const seen& real) {
        EXPECT_EQ(injected.out.ec, real.out.ec);
        EXPECT_EQ(keel::classify(injected.out.ec), keel::classify(real.out.ec));
        EXPECT_EQ(injected.report.outcome, real.report.outcome);
        EXPECT_EQ(real.report.attempts, 2);
        EXPECT_EQ(injected.report.attempts, real.report.attempts);
        EXPECT_EQ(injected.report.fault, real.report.fault);
        EXPECT_EQ(injected.report.last_operation_error, real.report.last_operation_error);
        EXPECT_EQ(real.window.recorded, 2);
        EXPECT_EQ(injected.window.recorded, real.window.recorded);
        EXPECT_EQ(injected.window.failure_ratio, real.window.failure_ratio);
    }
};

TEST_F(pg_fault_injection, a_statement_rule_injects_only_into_statements_of_that_name) {
    config::registry policies(context_.get_executor(), dependency(R"(    faults:
      - { kind: error, rate: 1.0, error: pg_40001, statement: insert_order }
)"));
    auto& db = policies.pipeline("db");
    auto& p = make_pool();
    for (int i = 0; i < 5; ++i) {
        EXPECT_EQ(hit(p, db, "insert_order"), pg::sqlstate("40001"));
        EXPECT_FALSE(hit(p, db, "insert_orders"));
        EXPECT_FALSE(hit(p, db, ""));
    }
    EXPECT_EQ(hits("insert_order"), 0) << "injected: the server saw none of them";
    EXPECT_EQ(hits("insert_orders"), 5);
    EXPECT_EQ(hits(""), 5);
}

TEST_F(pg_fault_injection, rules_in_yaml_reach_a_running_pool_and_a_reload_removes_them) {
    const std::string connection = "    connection: { dsn: \"" + shared_cluster().dsn() + "\" }\n";
    config::registry policies(context_.get_executor(), dependency(connection));
    auto& db = policies.pipeline("db");
    auto& p = make_pool();
    EXPECT_FALSE(hit(p, db, "insert_order"));
    EXPECT_EQ(hits("insert_order"), 1);

    policies.apply(dependency(connection + "    faults: [{ kind: error, rate: 1.0, error: "
                                           "pg_57P03 }]\n"));
    EXPECT_EQ(hit(p, db, "insert_order"), pg::sqlstate("57P03"));
    EXPECT_EQ(hits("insert_order"), 1) << "injected: the server saw nothing";

    policies.apply(dependency(connection));
    EXPECT_FALSE(hit(p, db, "insert_order"));
    EXPECT_EQ(hits("insert_order"), 2);
}

TEST_F(pg_fault_injection, an_injected_57P03_ends_a_call_as_a_real_one_does) {
    // The real one: a server in a smart shutdown (SIGTERM) waits for its
    // sessions to end and refuses new connections with 57P03 meanwhile.
    cluster stopping;
    session keeps_it_up(stopping.dsn());
    ::kill(stopping.pid(), SIGTERM);
    // The postmaster acts on SIGTERM within milliseconds; 2,000 polls (10 s)
    // only bound a server that never starts its shutdown.
    bool refusing = false;
    for (int poll = 0; poll < 2000; ++poll) {
        try {
            session probe(stopping.dsn());
        } catch (const std::runtime_error& refused) {
            ASSERT_NE(std::string(refused.what()).find("shutting down"), std::string::npos)
                << refused.what();
            refusing = true;
            break;
        }
        std::this_thread::sleep_for(5ms);
    }
    ASSERT_TRUE(refusing) << "the server kept accepting connections 10 s after SIGTERM";
    const seen real = call_through_breaker(make_pool(1, stopping.dsn()), nullptr);

    const seen injected = call_through_breaker(make_pool(1), always("pg_57P03"));

    EXPECT_EQ(real.out.ec, pg::sqlstate("57P03")) << real.out.r.error_message();
    EXPECT_EQ(keel::classify(real.out.ec), keel::fault_class::transient);
    expect_same_end(injected, real);
}

TEST_F(pg_fault_injection, an_injected_connection_refused_ends_a_call_as_a_real_refusal_does) {
    // The real one: a pool on a loopback port nobody listens on.
    std::uint16_t port = 0;
    {
        asio::ip::tcp::acceptor probe(context_, {asio::ip::make_address("127.0.0.1"), 0});
        port = probe.local_endpoint().port();
    }
    const seen real = call_through_breaker(
        make_pool(1, "host=127.0.0.1 port=" + std::to_string(port) + " user=postgres"), nullptr);
    ASSERT_NE(real.out.r.error_message().find("refused"), std::string_view::npos)
        << real.out.r.error_message();
    const seen injected = call_through_breaker(make_pool(1), always("connection_refused"));

    EXPECT_EQ(real.out.ec, pg::errc::connect_failed) << real.out.ec.message();
    EXPECT_EQ(keel::classify(real.out.ec), keel::fault_class::transient);
    expect_same_end(injected, real);
}

TEST_F(pg_fault_injection, injected_connection_errors_end_a_transaction_as_keel_pg_reports_them) {
    keel::pipeline_policy policy = fast_retries(1);
    const auto run = [&](const std::string& error_name) {
        policy.faults = always(error_name);
        keel::pipeline pipeline(context_, "db", policy);
        bool body_ran = false;
        query_outcome out;
        make_pool().async_transaction(
            pipeline,
            [&](pg::transaction&) -> asio::awaitable<void> {
                body_ran = true;
                co_return;
            },
            pg::isolation::read_committed,
            [&](std::error_code ec) {
                out = {true, ec, {}};
            });
        run_until([&] { return out.done; });
        EXPECT_FALSE(body_ran) << error_name << ": injected before the transaction began";
        return out.ec;
    };
    EXPECT_EQ(run("connection_refused"), pg::errc::connect_failed);
    EXPECT_EQ(run("connection_reset"), pg::errc::connection_lost);
}

} // namespace
