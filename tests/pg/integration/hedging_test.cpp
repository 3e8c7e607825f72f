// keel::pg::pool::async_call through a pipeline with hedging, against the
// shared cluster: when the first attempt is stuck in pg_sleep, the hedge's
// result wins and the stuck statement is cancelled on the server.
#include <keel/hedging.hpp>
#include <keel/pg/transaction.hpp>

#include "pool_fixture.hpp"
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace keel::test::pg_integration {
namespace {

using hedged_pipeline = keel::basic_pipeline<asio::steady_timer, keel::null_observer,
                                             asio::any_io_executor, keel::strategy_chain>;

class pg_hedging : public pg_pool {
protected:
    /// Two attempts, the second 20 ms after the first.
    static keel::pipeline_policy hedge_after_20ms() {
        keel::pipeline_policy p;
        p.retry.max_attempts = 1; // hedging counts its own attempts
        p.timeout.total = 10s;
        keel::hedge_settings settings;
        settings.max_attempts = 2;
        settings.delay = 20ms;
        auto chain = std::make_shared<keel::strategy_chain>();
        chain->parallel = std::make_shared<keel::hedging>(settings);
        p.strategies = chain;
        return p;
    }

    /// Opens both of the pool's connections, so that each attempt runs its
    /// statement at once, in the order they start.
    void open_both(pg::pool& p) {
        int done = 0;
        for (int i = 0; i < 2; ++i)
            p.async_query(pg::statement("SELECT pg_sleep(0.01)"), {},
                          [&](std::error_code ec, pg::result) {
                              EXPECT_FALSE(ec) << ec.message();
                              ++done;
                          });
        run_until([&] { return done == 2; });
        ASSERT_EQ(p.stats().open, 2u);
    }
};

TEST_F(pg_hedging, a_read_only_query_stuck_in_pg_sleep_loses_to_its_hedge_and_is_cancelled) {
    pg::pool& p = make_pool(2, shared_cluster().dsn("application_name=keel_hedged"));
    open_both(p);
    hedged_pipeline pipeline(context_, "orders-db", hedge_after_20ms());
    // Whichever attempt runs first takes the lock (released when its
    // statement ends) and sleeps; the other finds it taken and answers.
    // The first attempt starts 20 ms ahead, so it is the sleeper.
    const std::string sql = "SELECT CASE WHEN pg_try_advisory_xact_lock(24024) "
                            "THEN (SELECT 'slept' FROM pg_sleep(30)) ELSE 'hedge' END";
    query_outcome out;
    p.async_call(pipeline, pg::read_only(sql), [&](std::error_code ec, pg::result r) {
        out.done = true;
        out.ec = ec;
        out.r = std::move(r);
    });
    run_until([&] { return out.done; });
    ASSERT_FALSE(out.ec) << out.ec.message();
    ASSERT_EQ(out.r.rows(), 1);
    // "hedge" is the second attempt's answer: it won while the first slept.
    EXPECT_EQ(out.r.text(0, 0), "hedge");

    // The sleeper was cancelled on the server: no backend runs it any more
    // (polled from a connection of its own; the bound only keeps a failing
    // run from hanging, 30 s of pg_sleep would exceed it).
    session watcher(shared_cluster().dsn());
    const std::string running =
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
        "AND application_name = 'keel_hedged' AND query LIKE '%pg_sleep(30)%'";
    const auto give_up = std::chrono::steady_clock::now() + 5s;
    std::string count;
    while ((count = watcher.exec(running)) != "0" && std::chrono::steady_clock::now() < give_up) {
        context_.restart();
        context_.run_for(5ms); // the pool drains the cancelled statement meanwhile
    }
    EXPECT_EQ(count, "0") << "the losing attempt still runs pg_sleep on the server";
}

TEST_F(pg_hedging, a_transaction_is_not_hedged) {
    pg::pool& p = make_pool(2);
    open_both(p);
    hedged_pipeline pipeline(context_, "orders-db", hedge_after_20ms());
    int bodies = 0;
    bool done = false;
    std::error_code result;
    // Slower than the hedge delay: a hedged call would have run the body twice.
    p.async_transaction(
        pipeline,
        [&](pg::transaction& tx) -> asio::awaitable<void> {
            ++bodies;
            co_await tx.async_query(pg::read_only("SELECT pg_sleep(0.06)"), asio::use_awaitable);
        },
        pg::isolation::read_committed,
        [&](std::error_code ec) {
            result = ec;
            done = true;
        });
    run_until([&] { return done; });
    EXPECT_FALSE(result) << result.message();
    EXPECT_EQ(bodies, 1);
}

} // namespace
} // namespace keel::test::pg_integration
