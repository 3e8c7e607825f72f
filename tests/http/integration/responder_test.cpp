// test_server's per-request responder (what cqrs-payment-stub is built on),
// seen through keel::http::client: each answer decided from the request, the
// socket-level ones (reset) included; scripts still win; a fixed port.
#include <keel/http/client.hpp>
#include <keel/http/error.hpp>

#include "harness/http/test_server.hpp"
#include "support/call.hpp"
#include <asio/io_context.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <system_error>

namespace keel::test {
namespace {

using namespace std::chrono_literals;
namespace kh = keel::http;
using keel::test::http::behaviour;
using keel::test::http::outcome;
using keel::test::http::received_request;
using keel::test::http::record;
using keel::test::http::response;
using keel::test::http::run_until;
using keel::test::http::test_server;

class http_responder : public ::testing::Test {
protected:
    // One request, run to completion (bounded: a hang fails, it does not hang CI).
    outcome send(std::string path, kh::header_list headers = {}, std::string body = {}) {
        kh::request req;
        req.method = body.empty() ? "GET" : "POST";
        req.url = server.url(path);
        req.headers = std::move(headers);
        req.body = std::move(body);
        outcome out;
        client.async_send(std::move(req), {}, record(out));
        run_until(io, out);
        return out;
    }

    test_server server;
    asio::io_context io;
    kh::client client{io.get_executor()};
};

TEST_F(http_responder, decides_each_request_from_its_headers) {
    server.respond_with([](const received_request& req) {
        const std::string fault = req.header("X-Fault");
        if (fault == "reset")
            return response{.what = behaviour::reset};
        if (fault == "unavailable")
            return response{.status = 503, .headers = {{"Retry-After", "3"}}, .body = "busy"};
        return response{.status = 201, .body = "hello " + req.header("X-Name")};
    });

    const outcome fine = send("/pay", {{"X-Name", "ada"}});
    ASSERT_FALSE(fine.ec) << fine.ec.message();
    EXPECT_EQ(fine.r.status, 201);
    EXPECT_EQ(fine.r.body, "hello ada");

    const outcome reset = send("/pay", {{"X-Fault", "reset"}});
    EXPECT_EQ(reset.ec, std::errc::connection_reset) << reset.ec.message();

    const outcome busy = send("/pay", {{"X-Fault", "unavailable"}});
    EXPECT_EQ(busy.ec, kh::make_status_error(503)) << busy.ec.message();
    EXPECT_EQ(busy.r.header("Retry-After"), "3");
    EXPECT_EQ(busy.r.body, "busy");

    // Every request was received, in order, whatever its answer. libcurl
    // resends a request by itself, once, when a reused connection dies before
    // any byte of the response: the reset one arrives twice here (the first
    // time on the kept-alive connection, then on a fresh one that is reset too).
    const auto received = server.requests("/pay");
    ASSERT_EQ(received.size(), 4u);
    EXPECT_EQ(received[0].header("x-fault"), "");
    EXPECT_EQ(received[1].header("x-fault"), "reset");
    EXPECT_EQ(received[1].connection, received[0].connection);
    EXPECT_EQ(received[2].header("x-fault"), "reset");
    EXPECT_NE(received[2].connection, received[1].connection);
    EXPECT_EQ(received[3].header("x-fault"), "unavailable");
}

TEST_F(http_responder, sees_the_body_and_may_call_the_server) {
    // The responder runs outside the server's lock: count() from inside it
    // must not deadlock (it sees the requests before this one).
    server.respond_with([this](const received_request& req) {
        return response{.body = req.method + " " + req.body + " after " +
                                std::to_string(server.count("/echo"))};
    });
    EXPECT_EQ(send("/echo", {}, "one").r.body, "POST one after 0");
    EXPECT_EQ(send("/echo?q=1", {}, "two").r.body, "POST two after 1");
}

TEST_F(http_responder, scripts_win_and_an_empty_responder_restores_ok) {
    server.respond_with([](const received_request&) { return response{.status = 418}; });
    server.script("/scripted", {{.body = "from the script"}});
    EXPECT_EQ(send("/scripted").r.body, "from the script");
    EXPECT_EQ(send("/other").r.status, 418);

    server.respond_with(nullptr);
    const outcome o = send("/other");
    ASSERT_FALSE(o.ec) << o.ec.message();
    EXPECT_EQ(o.r.body, "ok");
}

TEST_F(http_responder, an_exception_drops_the_connection) {
    server.respond_with([](const received_request&) -> response { throw std::runtime_error("x"); });
    const outcome o = send("/boom");
    EXPECT_TRUE(o.ec); // curl: an empty reply or a reset, not a response
    EXPECT_EQ(o.r.status, 0);
}

TEST(http_support_server, listens_on_the_port_asked_for) {
    std::uint16_t port = 0;
    {
        test_server first;
        port = first.port();
        // Taken: a second server on it cannot bind.
        EXPECT_THROW(test_server{port}, std::system_error);
    }
    test_server again(port);
    EXPECT_EQ(again.port(), port);
}

} // namespace
} // namespace keel::test
