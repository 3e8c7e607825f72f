// keel::http::client::async_call through a pipeline with hedging, against
// the test server: a hedge that answers first wins and the slow attempt's
// transfer is removed (the server sees its connection closed); a POST
// without an Idempotency-Key is sent once; with one it is hedged.
#include <keel/hedging.hpp>
#include <keel/http/client.hpp>
#include <keel/pipeline.hpp>

#include "harness/http/test_server.hpp"
#include "support/call.hpp"
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

// Inside the harness's namespace: its behaviour, outcome, record and
// run_until by their own names.
namespace keel::test::http {
namespace {

using namespace std::chrono_literals;
namespace kh = keel::http;

using hedged_pipeline =
    basic_pipeline<asio::steady_timer, null_observer, asio::any_io_executor, strategy_chain>;

/// Two attempts, the second 20 ms after the first (real time: the delays
/// are kept short, the server's own lag is far below them).
pipeline_policy hedge_after_20ms() {
    pipeline_policy p;
    p.retry.max_attempts = 1; // hedging counts its own attempts
    p.timeout.total = 10s;
    hedge_settings settings;
    settings.max_attempts = 2;
    settings.delay = 20ms;
    auto chain = std::make_shared<strategy_chain>();
    chain->parallel = std::make_shared<hedging>(settings);
    p.strategies = chain;
    return p;
}

class http_hedging : public ::testing::Test {
protected:
    outcome call(kh::request r) {
        outcome out;
        client.async_call(pipeline, std::move(r), record(out));
        run_until(io, out);
        return out;
    }
    kh::request request(std::string method, std::string path) {
        kh::request r;
        r.method = std::move(method);
        r.url = server.url(path);
        if (r.method == "POST")
            r.body = R"({"amount": 12})";
        return r;
    }

    test_server server;
    asio::io_context io;
    kh::client client{io.get_executor()};
    hedged_pipeline pipeline{io, "orders", hedge_after_20ms()};
};

TEST_F(http_hedging, a_fast_hedge_wins_and_the_slow_transfer_is_closed) {
    // The first request never gets an answer; the hedge's is at once.
    server.script("/order", {{behaviour::stall_before_headers},
                             {behaviour::reply, 200, {}, "from the hedge"}});
    const outcome o = call(request("GET", "/order"));
    ASSERT_FALSE(o.ec) << o.ec.message();
    EXPECT_EQ(o.r.status, 200);
    EXPECT_EQ(o.r.body, "from the hedge");
    const auto seen = server.requests("/order");
    ASSERT_EQ(seen.size(), 2u);
    ASSERT_NE(seen[0].connection, seen[1].connection); // each attempt its own connection
    // The loser was removed from libcurl, which closed its connection.
    EXPECT_TRUE(server.wait_for_client_close(seen[0].connection, 5s));
}

TEST_F(http_hedging, a_post_without_an_idempotency_key_is_sent_once) {
    // Slower than the hedge delay: a hedge would have started.
    server.script("/charge", {{behaviour::reply, 201, {}, "charged", 60ms}});
    const outcome o = call(request("POST", "/charge"));
    ASSERT_FALSE(o.ec) << o.ec.message();
    EXPECT_EQ(o.r.status, 201);
    EXPECT_EQ(server.count("/charge"), 1);
}

TEST_F(http_hedging, a_post_with_an_idempotency_key_is_hedged) {
    server.script("/charge", {{behaviour::reply, 201, {}, "charged", 60ms}});
    kh::request r = request("POST", "/charge");
    r.headers.emplace_back("Idempotency-Key", "charge-7f3a");
    const outcome o = call(std::move(r));
    ASSERT_FALSE(o.ec) << o.ec.message();
    EXPECT_EQ(o.r.status, 201);
    EXPECT_EQ(server.count("/charge"), 2);
}

} // namespace
} // namespace keel::test::http
