// Which keel::pg calls a pipeline with hedging may run more than once at a
// time: a statement marked read-only, never another statement nor a
// transaction. Against a port nothing listens on (no server): a refused
// connection is transient, which hedging answers by starting the next
// attempt at once, so the attempt count shows whether the call was hedged.
#include <keel/hedging.hpp>
#include <keel/pg/pool.hpp>
#include <keel/pipeline.hpp>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <system_error>

namespace keel::pg {
namespace {

using namespace std::chrono_literals;

TEST(pg_hedge_decision, only_a_statement_marked_read_only_may_be_hedged) {
    EXPECT_TRUE(may_hedge(read_only("SELECT total FROM orders WHERE id = $1", 42)));
    EXPECT_FALSE(may_hedge(statement("SELECT 1")));
    // An idempotent write is safe twice in a row, not twice at once.
    EXPECT_FALSE(may_hedge(idempotent("INSERT INTO t VALUES (1) ON CONFLICT DO NOTHING")));
}

TEST(pg_hedge_decision, read_only_marks_the_statement_idempotent_too) {
    const statement s = read_only("SELECT $1::int", 7);
    EXPECT_TRUE(s.read_only);
    EXPECT_TRUE(s.idempotent); // retried after an unknown outcome, as any read
    ASSERT_EQ(s.params.size(), 1u);
    EXPECT_EQ(s.params[0], "7");
}

/// Counts the attempts a pipeline starts (the observer is copied: shared count).
struct attempt_counter {
    static constexpr bool enabled = true;
    std::shared_ptr<int> started = std::make_shared<int>(0);
    void on(const events::attempt_start&) const { ++*started; }
    template <class Event>
    void on(const Event&) const {}
};

class pg_hedged_calls : public ::testing::Test {
protected:
    using hedged_pipeline =
        basic_pipeline<asio::steady_timer, attempt_counter, asio::any_io_executor, strategy_chain>;

    static pipeline_policy three_hedges() {
        pipeline_policy p;
        p.retry.max_attempts = 1; // hedging counts its own attempts
        p.timeout.total = 10s;
        hedge_settings settings;
        settings.max_attempts = 3;
        settings.delay = 1s; // only the refusals start the next attempt
        auto chain = std::make_shared<strategy_chain>();
        chain->parallel = std::make_shared<hedging>(settings);
        p.strategies = chain;
        return p;
    }

    /// Runs the loop until `done` (bounded: a hung test fails).
    void run_until(const bool& done) {
        const auto end = std::chrono::steady_clock::now() + 20s;
        while (!done && std::chrono::steady_clock::now() < end)
            context.run_one_for(100ms);
        ASSERT_TRUE(done) << "the call did not complete";
    }

    void TearDown() override {
        connections.reset();
        context.restart();
        context.run(); // the pool's shutdown
    }

    int attempts_of_query(statement s) {
        bool done = false;
        std::error_code ec;
        connections->async_call(pipeline, std::move(s), [&](std::error_code e, result) {
            ec = e;
            done = true;
        });
        run_until(done);
        EXPECT_EQ(ec, make_error_code(errc::connect_failed));
        return *counter.started;
    }

    asio::io_context context;
    // Port 1 on loopback: nothing listens, every connect is refused at once.
    std::unique_ptr<pool> connections = std::make_unique<pool>(
        context.get_executor(), pool_options{.dsn = "host=127.0.0.1 port=1 user=nobody"});
    attempt_counter counter;
    hedged_pipeline pipeline{context.get_executor(), "orders-db", three_hedges(), counter};
};

TEST_F(pg_hedged_calls, a_read_only_query_is_hedged) {
    EXPECT_EQ(attempts_of_query(read_only("SELECT 1")), 3);
}

TEST_F(pg_hedged_calls, a_query_not_marked_read_only_runs_one_attempt) {
    EXPECT_EQ(attempts_of_query(idempotent("SELECT 1")), 1);
}

TEST_F(pg_hedged_calls, a_transaction_runs_one_attempt) {
    bool done = false;
    std::error_code ec;
    int bodies = 0;
    connections->async_transaction(
        pipeline,
        [&](transaction&) -> asio::awaitable<void> {
            ++bodies;
            co_return;
        },
        isolation::read_committed,
        [&](std::error_code e) {
            ec = e;
            done = true;
        });
    run_until(done);
    EXPECT_EQ(ec, make_error_code(errc::connect_failed));
    EXPECT_EQ(*counter.started, 1);
    EXPECT_EQ(bodies, 0); // no connection, so no body ran
}

} // namespace
} // namespace keel::pg
