// keel::http::service: a client and a pipeline from a `kind: http`
// dependency, against nginx and the misbehaving test server (its connection
// section alone: unit/options_from_test.cpp).
#include <keel/config/document.hpp>
#include <keel/config/registry.hpp>
#include <keel/error.hpp>
#include <keel/http/service.hpp>
#include <keel/observer.hpp>

#include "harness/http/nginx.hpp"
#include "harness/http/test_server.hpp"
#include "support/call.hpp"
#include <asio/io_context.hpp>
#include <gtest/gtest.h>

#include <string>
#include <utility>

namespace keel::test {
namespace {

using namespace std::chrono_literals;
namespace kh = keel::http;
using keel::test::http::behaviour;
using keel::test::http::outcome;
using keel::test::http::record;
using keel::test::http::run_until;

TEST(http_service, a_configured_dependency_against_nginx) {
    keel::test::http::nginx web;
    const auto doc = config::load_string("version: 1\ndependencies:\n  static-http:\n"
                                         "    kind: http\n    connection: {base_url: \"" +
                                         web.url("") + "\"}\n");
    asio::io_context io;
    config::registry policies(io.get_executor(), doc);
    kh::service site(io.get_executor(), policies, "static-http");
    outcome o;
    site.async_get("/small.txt", record(o));
    run_until(io, o);
    ASSERT_FALSE(o.ec) << o.ec.message();
    EXPECT_EQ(o.r.status, 200);
    EXPECT_EQ(o.r.body, keel::test::http::nginx::small_body());
    outcome missing;
    site.async_get("/nothing-here", record(missing));
    run_until(io, missing);
    EXPECT_EQ(missing.ec, kh::make_status_error(404));
}

// A call that keel's deadline ended still says what the server answered
// before: the report keeps the 503 of the first attempt while the call
// completes with the second attempt's exchange timeout.
TEST(http_service, a_report_keeps_the_last_answer_behind_a_timeout) {
    keel::test::http::test_server server;
    server.script("/busy",
                  {{behaviour::reply, 503, {}, "busy"}, {behaviour::stall_before_headers}});
    const auto doc =
        config::load_string("version: 1\ndependencies:\n  busy-http:\n    kind: http\n"
                            "    retry: {max_attempts: 2, backoff: {kind: constant, initial: 1ms}, "
                            "retry_on: [throttled, timeout]}\n"
                            "    timeout: {connect: 1s, exchange: 300ms, total: 10s}\n"
                            "    connection: {base_url: \"" +
                            server.url("") + "\"}\n");
    asio::io_context io;
    config::registry policies(io.get_executor(), doc);
    kh::service busy(io.get_executor(), policies, "busy-http");
    kh::request r;
    r.url = "/busy";
    keel::call_report report;
    outcome o;
    busy.async_send(std::move(r), report, record(o));
    run_until(io, o);
    EXPECT_EQ(o.ec, keel::errc::exchange_timeout);
    EXPECT_EQ(report.attempts, 2);
    EXPECT_EQ(report.error, o.ec);
    EXPECT_EQ(report.last_operation_error, kh::make_status_error(503));
    EXPECT_EQ(server.count("/busy"), 2);
}

} // namespace
} // namespace keel::test
