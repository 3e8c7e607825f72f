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
using namespace keel::test::http; // the servers, outcome, record, run_until

/// The service of a file's one `kind: http` dependency, `name`, at
/// `base_url`, with the policy lines `policy` ("    retry: {...}\n" ...).
struct one_http_dependency {
    one_http_dependency(const std::string& name, const std::string& base_url,
                        const std::string& policy = "")
        : policies(io.get_executor(),
                   config::load_string("version: 1\ndependencies:\n  " + name +
                                       ":\n    kind: http\n" + policy +
                                       "    connection: {base_url: \"" + base_url + "\"}\n")),
          service(io.get_executor(), policies, name) {}

    asio::io_context io;
    config::registry policies;
    kh::service service;
};

TEST(http_service, a_configured_dependency_against_nginx) {
    keel::test::http::nginx web;
    one_http_dependency dependency("static-http", web.url(""));
    auto& [io, policies, site] = dependency;
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
    one_http_dependency dependency(
        "busy-http", server.url(""),
        "    retry: {max_attempts: 2, backoff: {kind: constant, initial: 1ms}, "
        "retry_on: [throttled, timeout]}\n"
        "    timeout: {connect: 1s, exchange: 300ms, total: 10s}\n");
    auto& [io, policies, busy] = dependency;
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

// async_get and async_post take a report before the token, as async_send
// does: the report counts the GET's retry and the POST's one attempt.
TEST(http_service, every_verb_takes_a_report) {
    keel::test::http::test_server server;
    server.script("/flaky",
                  {{behaviour::reply, 503, {}, "busy"}, {behaviour::reply, 200, {}, "ok"}});
    one_http_dependency dependency(
        "flaky-http", server.url(""),
        "    retry: {max_attempts: 3, backoff: {kind: constant, initial: 1ms}, "
        "retry_on: [throttled]}\n");
    auto& [io, policies, flaky] = dependency;
    keel::call_report get_report;
    outcome got;
    flaky.async_get("/flaky", get_report, record(got));
    run_until(io, got);
    EXPECT_FALSE(got.ec) << got.ec.message();
    EXPECT_EQ(got.r.body, "ok");
    EXPECT_EQ(get_report.attempts, 2);

    keel::call_report post_report;
    outcome posted;
    flaky.async_post("/posted", "{}", "application/json", post_report, record(posted));
    run_until(io, posted);
    EXPECT_FALSE(posted.ec) << posted.ec.message();
    EXPECT_EQ(post_report.attempts, 1);
    EXPECT_EQ(server.count("/posted"), 1);
}

// The accessor's old name stays one release, deprecated.
TEST(http_service, the_deprecated_accessor_is_the_client) {
    one_http_dependency dependency("h", "http://127.0.0.1:1");
    kh::service& h = dependency.service;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    EXPECT_EQ(&h.http_client(), &h.client());
#pragma GCC diagnostic pop
}

} // namespace
} // namespace keel::test
