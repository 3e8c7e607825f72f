// keel::with_fallback around keel::http calls to the real test server (issue
// 25): a permanent 400 gets no fallback and keeps its own error, while a 503
// (throttled, a class the fallback answers by default) is answered by it.
#include <keel/fallback.hpp>
#include <keel/http/client.hpp>
#include <keel/pipeline.hpp>

#include "harness/http/test_server.hpp"
#include "support/call.hpp"
#include <asio/io_context.hpp>
#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace keel::test {
namespace {

using namespace std::chrono_literals;
namespace kh = keel::http;
using keel::test::http::behaviour;
using keel::test::http::outcome;
using keel::test::http::record;
using keel::test::http::run_until;

/// A degraded response, counting how often it was asked for.
struct degraded_response {
    std::shared_ptr<int> runs = std::make_shared<int>(0);

    template <class Token>
    auto operator()(const fallback_context&, Token&& token) {
        ++*runs;
        return asio::async_initiate<Token, void(std::error_code, kh::response)>(
            [](auto handler) {
                kh::response r;
                r.status = 200;
                r.body = "degraded";
                std::move(handler)(std::error_code(), std::move(r));
            },
            token);
    }
};

class http_fallback : public ::testing::Test {
protected:
    /// One GET of `path`, with retries, through `fallback`.
    outcome get(const std::string& path, degraded_response fallback, call_report& report) {
        pipeline_policy p;
        p.retry.max_attempts = 3;
        p.retry.retry_on = {fault_class::transient, fault_class::throttled};
        p.retry.backoff.initial = 1ms;
        p.retry.backoff.jitter = jitter_kind::none;
        p.retry.retry_after.max = 1ms;
        p.timeout.total = 5s;
        keel::pipeline pipeline(io, "api", p);
        outcome out;
        auto op = keel::test::http::get_each_attempt(client, server.url(path));
        pipeline.async_run<void(std::error_code, kh::response)>(with_fallback(op, fallback), report,
                                                                record(out));
        run_until(io, out);
        return out;
    }

    keel::test::http::test_server server;
    asio::io_context io;
    kh::client client{io.get_executor()};
};

TEST_F(http_fallback, a_permanent_400_gets_no_fallback) {
    server.script("/bad", {{behaviour::reply, 400}});
    degraded_response fallback;
    call_report report;
    const outcome out = get("/bad", fallback, report);
    EXPECT_EQ(out.ec, kh::make_status_error(400));
    EXPECT_EQ(classify(out.ec), fault_class::permanent);
    EXPECT_EQ(*fallback.runs, 0);
    EXPECT_NE(out.r.body, "degraded");
    EXPECT_EQ(server.count("/bad"), 1) << "permanent: not retried either";
    EXPECT_NE(report.outcome, call_outcome::fallback);
    EXPECT_FALSE(report.original_error);
}

TEST_F(http_fallback, a_503_after_the_retries_is_answered_by_it) {
    server.script("/busy", {{behaviour::reply, 503}});
    degraded_response fallback;
    call_report report;
    const outcome out = get("/busy", fallback, report);
    EXPECT_FALSE(out.ec);
    EXPECT_EQ(out.r.body, "degraded");
    EXPECT_EQ(*fallback.runs, 1);
    EXPECT_EQ(server.count("/busy"), 3);
    EXPECT_EQ(report.outcome, call_outcome::fallback);
    EXPECT_EQ(report.original_error, kh::make_status_error(503));
}

} // namespace
} // namespace keel::test
