// Self-tests of the HTTP test support (test_server, full_listener, nginx),
// with raw Asio sockets as the client.
#include "harness/http/nginx.hpp"
#include "harness/http/test_server.hpp"
#include <arpa/inet.h>
#include <asio/buffer.hpp>
#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

namespace {

using namespace std::chrono_literals;
using asio::ip::tcp;
using keel::test::http::behaviour;
using keel::test::http::response;
using keel::test::http::test_server;
using steady = std::chrono::steady_clock;

struct reply {
    int status = 0;
    std::string head; // status line and headers, without the final CRLF CRLF
    std::string body;

    std::string header(std::string_view name) const {
        std::string needle = "\r\n" + std::string(name) + ": ";
        auto at = head.find(needle);
        if (at == std::string::npos)
            return {};
        auto start = at + needle.size();
        return head.substr(start, head.find("\r\n", start) - start);
    }
};

// A blocking-style client over one Asio socket; every read is bounded.
class client {
public:
    explicit client(std::uint16_t port) {
        socket_.connect(tcp::endpoint(asio::ip::address_v4::loopback(), port));
    }

    void send(std::string_view data) { asio::write(socket_, asio::buffer(data)); }

    struct read_result {
        std::string data;   // what arrived during this read (also left in the input buffer)
        std::error_code ec; // how the read ended, unless it timed out
        bool timed_out = false;
    };

    // Reads until `done(input)` holds, the connection fails/ends, or `timeout`.
    read_result read_until(const std::function<bool(const std::string&)>& done,
                           std::chrono::milliseconds timeout) {
        read_result r;
        const std::size_t before = input_.size();
        if (done(input_))
            return r;
        asio::steady_timer timer(ctx_, timeout);
        bool finished = false;
        std::array<char, 4096> chunk{};
        std::function<void()> next = [&] {
            socket_.async_read_some(asio::buffer(chunk), [&](std::error_code ec, std::size_t n) {
                input_.append(chunk.data(), n);
                if (ec || done(input_)) {
                    if (!r.timed_out)
                        r.ec = ec;
                    finished = true;
                    timer.cancel();
                    return;
                }
                next();
            });
        };
        timer.async_wait([&](std::error_code ec) {
            if (!ec && !finished) {
                r.timed_out = true;
                socket_.cancel();
            }
        });
        next();
        ctx_.restart();
        ctx_.run();
        r.data = input_.substr(before);
        return r;
    }

    // Reads for `timeout` (or until the connection fails/ends).
    read_result read_for(std::chrono::milliseconds timeout) {
        return read_until([](const std::string&) { return false; }, timeout);
    }

    // Reads one response (its body by Content-Length unless `head_only`).
    reply read_response(bool head_only = false) {
        auto complete = [&](const std::string& in) {
            auto end = in.find("\r\n\r\n");
            if (end == std::string::npos)
                return false;
            return head_only || in.size() >= end + 4 + content_length(in.substr(0, end));
        };
        auto r = read_until(complete, 5s);
        if (!complete(input_))
            throw std::runtime_error("no complete response: " + r.ec.message() + " [" + input_ +
                                     "]");
        reply out;
        auto end = input_.find("\r\n\r\n");
        out.head = input_.substr(0, end);
        out.status = std::stoi(out.head.substr(9, 3));
        std::size_t length = head_only ? 0 : content_length(out.head);
        out.body = input_.substr(end + 4, length);
        input_.erase(0, end + 4 + length);
        return out;
    }

    std::string& input() { return input_; }
    tcp::socket& socket() { return socket_; }

private:
    static std::size_t content_length(const std::string& head) {
        auto at = head.find("Content-Length: ");
        return at == std::string::npos ? 0 : std::stoul(head.substr(at + 16));
    }

    asio::io_context ctx_;
    tcp::socket socket_{ctx_};
    std::string input_;
};

std::string get(std::string_view target, std::string_view extra = {}) {
    return "GET " + std::string(target) + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + std::string(extra) +
           "\r\n";
}

// --- test_server: behaviours ------------------------------------------------------------------

TEST(http_support_server, listens_on_a_free_loopback_port) {
    test_server server;
    EXPECT_NE(server.port(), 0);
    EXPECT_EQ(server.url("/x"), "http://127.0.0.1:" + std::to_string(server.port()) + "/x");
    EXPECT_EQ(server.connections(), 0);
}

TEST(http_support_server, unscripted_path_answers_200_ok) {
    test_server server;
    client c(server.port());
    c.send(get("/anything"));
    auto r = c.read_response();
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("Content-Length"), "2");
    EXPECT_EQ(r.body, "ok");
}

TEST(http_support_server, reply_sends_status_headers_and_body) {
    test_server server;
    server.script("/pay", {{.status = 503, .headers = {{"Retry-After", "2"}}, .body = "busy"}});
    client c(server.port());
    c.send(get("/pay?x=1", "X-Request-Id: abc\r\n"));
    auto r = c.read_response();
    EXPECT_EQ(r.status, 503);
    EXPECT_TRUE(r.head.starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
    EXPECT_EQ(r.header("Retry-After"), "2");
    EXPECT_EQ(r.header("Content-Length"), "4");
    EXPECT_EQ(r.body, "busy");

    ASSERT_EQ(server.count("/pay"), 1);
    auto reqs = server.requests("/pay");
    ASSERT_EQ(reqs.size(), 1u);
    EXPECT_EQ(reqs[0].method, "GET");
    EXPECT_EQ(reqs[0].target, "/pay?x=1");
    EXPECT_EQ(reqs[0].header("x-request-id"), "abc");
    EXPECT_EQ(reqs[0].header("HOST"), "127.0.0.1");
    EXPECT_EQ(reqs[0].header("absent"), "");
    EXPECT_EQ(reqs[0].connection, 1);
    EXPECT_EQ(server.requests().size(), 1u);
    EXPECT_TRUE(server.requests("/other").empty());
}

TEST(http_support_server, stall_before_headers_sends_nothing) {
    test_server server;
    server.script("/stall", {{.what = behaviour::stall_before_headers}});
    client c(server.port());
    c.send(get("/stall"));
    auto r = c.read_for(200ms);
    EXPECT_TRUE(r.timed_out);
    EXPECT_EQ(r.data, "");
    EXPECT_EQ(server.count("/stall"), 1); // counted before the behaviour runs
}

TEST(http_support_server, half_body_then_stall_sends_exactly_half) {
    test_server server;
    server.script("/half", {{.what = behaviour::half_body_then_stall, .body = "0123456789"}});
    client c(server.port());
    c.send(get("/half"));
    auto r = c.read_response(/*head_only=*/true);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("Content-Length"), "10");
    auto rest = c.read_for(200ms);
    EXPECT_TRUE(rest.timed_out);
    EXPECT_EQ(c.input(), "01234");
}

TEST(http_support_server, reset_gives_connection_reset) {
    test_server server;
    server.script("/reset", {{.what = behaviour::reset}});
    client c(server.port());
    c.send(get("/reset"));
    auto r = c.read_for(5s);
    EXPECT_FALSE(r.timed_out);
    EXPECT_EQ(r.ec, asio::error::connection_reset) << r.ec.message();
    EXPECT_EQ(r.data, "");
    EXPECT_EQ(server.count("/reset"), 1);
}

TEST(http_support_server, close_without_reply_gives_eof_and_no_bytes) {
    test_server server;
    server.script("/close", {{.what = behaviour::close_without_reply}});
    client c(server.port());
    c.send(get("/close"));
    auto r = c.read_for(5s);
    EXPECT_FALSE(r.timed_out);
    EXPECT_EQ(r.ec, asio::error::eof) << r.ec.message();
    EXPECT_EQ(r.data, "");
}

TEST(http_support_server, delay_is_honoured) {
    test_server server;
    server.script("/slow", {{.body = "late", .delay = 150ms}});
    client c(server.port());
    const auto start = steady::now();
    c.send(get("/slow"));
    auto r = c.read_response();
    EXPECT_GE(steady::now() - start, 150ms);
    EXPECT_EQ(r.body, "late");
}

// --- test_server: scripts, keep-alive, bodies ------------------------------------------------

TEST(http_support_server, script_runs_in_order_and_repeats_the_last) {
    test_server server;
    server.script("/s", {{.status = 500, .body = "first"}, {.status = 201, .body = "then"}});
    client c(server.port());
    for (int i = 0; i < 3; ++i)
        c.send(get("/s"));
    EXPECT_EQ(c.read_response().status, 500);
    EXPECT_EQ(c.read_response().body, "then");
    EXPECT_EQ(c.read_response().status, 201);
    EXPECT_EQ(server.count("/s"), 3);

    server.script("/s", {{.status = 404}}); // a new script starts over
    c.send(get("/s"));
    EXPECT_EQ(c.read_response().status, 404);
}

TEST(http_support_server, keep_alive_reuses_the_connection) {
    test_server server;
    client c(server.port());
    c.send(get("/k"));
    EXPECT_EQ(c.read_response().status, 200);
    c.send(get("/k"));
    EXPECT_EQ(c.read_response().status, 200);
    auto reqs = server.requests("/k");
    ASSERT_EQ(reqs.size(), 2u);
    EXPECT_EQ(reqs[0].connection, 1);
    EXPECT_EQ(reqs[1].connection, 1);
    EXPECT_EQ(server.connections(), 1);

    client other(server.port());
    other.send(get("/k"));
    EXPECT_EQ(other.read_response().status, 200);
    EXPECT_EQ(server.requests("/k").at(2).connection, 2);
    EXPECT_EQ(server.connections(), 2);
}

TEST(http_support_server, connection_close_is_honoured) {
    test_server server;
    client c(server.port());
    c.send(get("/c", "Connection: close\r\n"));
    auto r = c.read_response();
    EXPECT_EQ(r.header("Connection"), "close");
    auto after = c.read_for(5s);
    EXPECT_EQ(after.ec, asio::error::eof);
}

TEST(http_support_server, head_gets_headers_only) {
    test_server server;
    server.script("/h", {{.body = "twelve bytes"}});
    client c(server.port());
    c.send("HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n");
    auto r = c.read_response(/*head_only=*/true);
    EXPECT_EQ(r.header("Content-Length"), "12");
    // No body bytes follow: the next response starts right away.
    c.send(get("/h"));
    auto next = c.read_response();
    EXPECT_EQ(next.status, 200);
    EXPECT_EQ(next.body, "twelve bytes");
    EXPECT_EQ(server.requests("/h").at(0).method, "HEAD");
}

TEST(http_support_server, content_length_body_received_intact) {
    test_server server;
    client c(server.port());
    c.send("POST /p HTTP/1.1\r\nHost: x\r\ncontent-length: 11\r\n\r\nhello");
    ASSERT_FALSE(server.wait_for_requests("/p", 1, 50ms)); // not counted before the body
    c.send(" world");
    EXPECT_EQ(c.read_response().status, 200);
    auto reqs = server.requests("/p");
    ASSERT_EQ(reqs.size(), 1u);
    EXPECT_EQ(reqs[0].body, "hello world");
}

TEST(http_support_server, chunked_body_received_intact) {
    test_server server;
    client c(server.port());
    c.send("POST /chunk HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
           "5\r\nhello\r\n6;ext=1\r\n wor");
    c.send("ld\r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n");
    EXPECT_EQ(c.read_response().status, 200);
    c.send(get("/chunk")); // the connection is still in step
    EXPECT_EQ(c.read_response().status, 200);
    auto reqs = server.requests("/chunk");
    ASSERT_EQ(reqs.size(), 2u);
    EXPECT_EQ(reqs[0].body, "hello world0123456789");
    EXPECT_EQ(reqs[1].body, "");
}

TEST(http_support_server, expect_100_continue_answered_before_the_body) {
    test_server server;
    client c(server.port());
    c.send("PUT /e HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
    auto interim = c.read_response(/*head_only=*/true);
    EXPECT_EQ(interim.status, 100);
    EXPECT_EQ(interim.head, "HTTP/1.1 100 Continue");
    EXPECT_EQ(server.count("/e"), 0);
    c.send("data");
    auto r = c.read_response();
    EXPECT_EQ(r.status, 200);
    ASSERT_EQ(server.count("/e"), 1);
    EXPECT_EQ(server.requests("/e")[0].body, "data");
}

TEST(http_support_server, wait_for_requests_is_bounded) {
    test_server server;
    const auto start = steady::now();
    EXPECT_FALSE(server.wait_for_requests("/never", 1, 50ms));
    EXPECT_GE(steady::now() - start, 50ms);

    client c(server.port());
    c.send(get("/w"));
    c.send(get("/w"));
    EXPECT_TRUE(server.wait_for_requests("/w", 2, 5s));
}

TEST(http_support_server, wait_for_client_close_sees_only_a_connection_the_client_closed) {
    test_server server;
    server.script("/kept", {{.what = behaviour::stall_before_headers}});
    server.script("/closed", {{.what = behaviour::stall_before_headers}});
    client kept(server.port());
    kept.send(get("/kept"));
    client closed(server.port());
    closed.send(get("/closed"));
    ASSERT_TRUE(server.wait_for_requests("/kept", 1, 5s));
    ASSERT_TRUE(server.wait_for_requests("/closed", 1, 5s));
    closed.socket().close();
    EXPECT_TRUE(server.wait_for_client_close(server.requests("/closed")[0].connection, 5s));
    EXPECT_FALSE(server.wait_for_client_close(server.requests("/kept")[0].connection, 20ms));
}

TEST(http_support_server, malformed_request_drops_the_connection) {
    test_server server;
    client c(server.port());
    c.send("NONSENSE\r\n\r\n");
    auto r = c.read_for(5s);
    EXPECT_FALSE(r.timed_out);
    EXPECT_EQ(r.data, "");
    EXPECT_EQ(server.requests().size(), 0u);
}

TEST(http_support_server, destructor_returns_with_stalled_and_blocked_clients) {
    auto server = std::make_unique<test_server>();
    server->script("/stall", {{.what = behaviour::stall_before_headers}});
    server->script("/half", {{.what = behaviour::half_body_then_stall, .body = "abcd"}});
    server->script("/slow", {{.delay = 60s}});
    server->script("/big", {{.body = std::string(16 << 20, 'x')}}); // more than the socket buffers

    client stalled(server->port()), half(server->port()), slow(server->port()),
        never_reads(server->port()), idle(server->port());
    stalled.send(get("/stall"));
    half.send(get("/half"));
    slow.send(get("/slow"));
    never_reads.send(get("/big"));
    ASSERT_TRUE(server->wait_for_requests("/stall", 1, 5s));
    ASSERT_TRUE(server->wait_for_requests("/half", 1, 5s));
    ASSERT_TRUE(server->wait_for_requests("/slow", 1, 5s));
    ASSERT_TRUE(server->wait_for_requests("/big", 1, 5s));

    const auto start = steady::now();
    server.reset();
    EXPECT_LT(steady::now() - start, 2s);

    // Every connection was closed (EOF, or a reset where unread data was pending).
    for (client* c : {&stalled, &half, &slow, &idle}) {
        auto r = c->read_for(5s);
        EXPECT_FALSE(r.timed_out);
        EXPECT_TRUE(r.ec == asio::error::eof || r.ec == asio::error::connection_reset)
            << r.ec.message();
    }
}

// --- full_listener ----------------------------------------------------------------------------

TEST(http_support_full_listener, connect_stays_pending) {
    keel::test::http::full_listener listener;
    ASSERT_NE(listener.port(), 0);

    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(listener.port());
    int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    EXPECT_TRUE(rc != 0 && errno == EINPROGRESS);
    pollfd p{fd, POLLOUT, 0};
    EXPECT_EQ(::poll(&p, 1, 300), 0) << "connect completed: the queue is not full";
    ::close(fd);
}

// --- nginx ------------------------------------------------------------------------------------

TEST(http_support_nginx, serves_small_txt_and_stops) {
    pid_t pid = -1;
    std::string dir;
    {
        keel::test::http::nginx server;
        pid = server.pid();
        dir = server.root();
        ASSERT_GT(pid, 0);
        EXPECT_EQ(server.url("/a"), "http://127.0.0.1:" + std::to_string(server.port()) + "/a");
        EXPECT_TRUE(std::filesystem::is_regular_file(dir + "/small.txt"));

        client c(server.port());
        c.send(get("/small.txt"));
        auto r = c.read_response();
        EXPECT_EQ(r.status, 200);
        EXPECT_EQ(r.body.size(), 512u);
        EXPECT_EQ(r.body, keel::test::http::nginx::small_body());

        server.add_file("extra.json", R"({"a":1})");
        c.send(get("/extra.json")); // keep-alive
        auto extra = c.read_response();
        EXPECT_EQ(extra.status, 200);
        EXPECT_EQ(extra.body, R"({"a":1})");

        c.send(get("/missing"));
        EXPECT_EQ(c.read_response().status, 404);
    }
    EXPECT_NE(::kill(pid, 0), 0);
    EXPECT_EQ(errno, ESRCH);
    EXPECT_FALSE(std::filesystem::exists(dir));
}

} // namespace
