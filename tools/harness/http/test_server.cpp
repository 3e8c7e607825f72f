// Over 400 lines: the server's misbehaviours all live in its one connection loop.
#include "test_server.hpp"

#include <arpa/inet.h>
#include <asio/buffer.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/read.hpp>
#include <asio/read_until.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <system_error>
#include <thread>

namespace keel::test::http {
namespace {

using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;

// A request head or chunk-size line larger than this is a bad request.
constexpr std::size_t max_buffered = 1 << 20;

char lower_char(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
    return std::ranges::equal(a, b, [](char x, char y) { return lower_char(x) == lower_char(y); });
}

// std::search, not std::ranges::search: clang 14 (the sanitizer builds)
// cannot instantiate libstdc++ 12's ranges::subrange.
bool icontains(std::string_view haystack, std::string_view needle) {
    return !needle.empty() && std::search(haystack.begin(), haystack.end(), needle.begin(),
                                          needle.end(), [](char x, char y) {
                                              return lower_char(x) == lower_char(y);
                                          }) != haystack.end();
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

std::string_view reason(int status) {
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Status";
    }
}

struct bad_request : std::runtime_error {
    using std::runtime_error::runtime_error;
};

std::size_t parse_size(std::string_view s, int base) {
    s = trim(s);
    std::size_t value = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value, base);
    if (ec != std::errc{} || end != s.data() + s.size() || s.empty())
        throw bad_request("bad size: " + std::string(s));
    return value;
}

// Parses the request line and headers (`head` excludes the final CRLF CRLF).
received_request parse_head(std::string_view head, std::string& version) {
    received_request req;
    auto eol = head.find("\r\n");
    std::string_view line = head.substr(0, eol);
    head = eol == std::string_view::npos ? std::string_view{} : head.substr(eol + 2);

    auto sp1 = line.find(' ');
    auto sp2 = line.rfind(' ');
    if (sp1 == std::string_view::npos || sp2 == sp1)
        throw bad_request("bad request line: " + std::string(line));
    req.method = line.substr(0, sp1);
    req.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    version = line.substr(sp2 + 1);

    while (!head.empty()) {
        eol = head.find("\r\n");
        line = head.substr(0, eol);
        head = eol == std::string_view::npos ? std::string_view{} : head.substr(eol + 2);
        auto colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0)
            throw bad_request("bad header line: " + std::string(line));
        req.headers.emplace_back(line.substr(0, colon), trim(line.substr(colon + 1)));
    }
    return req;
}

std::string format_head(const response& r, bool keep_alive) {
    std::string out =
        "HTTP/1.1 " + std::to_string(r.status) + " " + std::string(reason(r.status)) + "\r\n";
    for (const auto& [name, value] : r.headers)
        out += name + ": " + value + "\r\n";
    out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
    if (!keep_alive)
        out += "Connection: close\r\n";
    out += "\r\n";
    return out;
}

} // namespace

std::string received_request::header(std::string_view name) const {
    for (const auto& [n, v] : headers)
        if (iequals(n, name))
            return v;
    return {};
}

// --- test_server ----------------------------------------------------------------------------

struct test_server::impl {
    struct connection {
        connection(tcp::socket s, int n)
            : socket(std::move(s)), timer(socket.get_executor()), id(n) {}
        tcp::socket socket;
        asio::steady_timer timer; // the scripted delay
        int id;
    };
    struct scripted {
        std::vector<response> responses;
        std::size_t next = 0;
    };

    asio::io_context ctx{1};
    tcp::acceptor acceptor{ctx};
    std::uint16_t port = 0;
    std::thread thread;

    // Loop thread only.
    std::map<int, std::shared_ptr<connection>> open;
    bool stopping = false;

    // Shared with the test's threads.
    mutable std::mutex mutex;
    mutable std::condition_variable arrived;
    std::vector<received_request> received;
    std::map<std::string, scripted, std::less<>> scripts;
    // Shared so a request decides with the responder it started with, outside
    // the lock (the responder may call requests(), count() ...).
    std::shared_ptr<const responder> decide;
    int accepted = 0;
    std::set<int> closed_by_client; ///< connections the client ended (EOF or reset)

    explicit impl(std::uint16_t wanted_port) {
        tcp::endpoint endpoint(asio::ip::address_v4::loopback(), wanted_port);
        acceptor.open(endpoint.protocol());
        acceptor.set_option(tcp::acceptor::reuse_address(true));
        acceptor.bind(endpoint);
        acceptor.listen();
        port = acceptor.local_endpoint().port();
        asio::co_spawn(ctx, accept_loop(), asio::detached);
        thread = std::thread([this] { ctx.run(); });
    }

    ~impl() {
        asio::post(ctx, [this] { shutdown(); });
        thread.join();
    }

    // Closing the sockets and cancelling the timers ends every coroutine, so
    // run() returns by itself.
    void shutdown() {
        stopping = true;
        std::error_code ignored;
        acceptor.close(ignored);
        for (auto& [id, c] : open) {
            c->socket.close(ignored);
            c->timer.cancel();
        }
    }

    awaitable<void> accept_loop() {
        try {
            for (;;) {
                tcp::socket socket = co_await acceptor.async_accept(use_awaitable);
                if (stopping)
                    co_return;
                socket.set_option(tcp::no_delay(true));
                int id = 0;
                {
                    std::lock_guard lock(mutex);
                    id = ++accepted;
                }
                auto c = std::make_shared<connection>(std::move(socket), id);
                open.emplace(id, c);
                asio::co_spawn(ctx, serve(c), asio::detached);
            }
        } catch (const std::exception&) {
            // The acceptor was closed: the server is stopping.
        }
    }

    response next_response(const received_request& req) {
        const std::string_view path = std::string_view(req.target).substr(0, req.target.find('?'));
        std::shared_ptr<const responder> responder_now;
        {
            std::lock_guard lock(mutex);
            auto it = scripts.find(path);
            if (it != scripts.end() && !it->second.responses.empty()) {
                auto& s = it->second;
                const response& r = s.responses[std::min(s.next, s.responses.size() - 1)];
                ++s.next;
                return r;
            }
            responder_now = decide;
        }
        return responder_now ? (*responder_now)(req) : response{};
    }

    void record(received_request req) {
        {
            std::lock_guard lock(mutex);
            received.push_back(std::move(req));
        }
        arrived.notify_all();
    }

    // Makes `buf` hold at least `n` bytes.
    static awaitable<void> fill(tcp::socket& socket, std::string& buf, std::size_t n) {
        if (buf.size() < n)
            co_await asio::async_read(socket, asio::dynamic_buffer(buf, max_buffered + n),
                                      asio::transfer_exactly(n - buf.size()), use_awaitable);
    }

    // Reads up to and including the next CRLF; returns the line without it.
    static awaitable<std::string> read_line(tcp::socket& socket, std::string& buf) {
        auto n = co_await asio::async_read_until(socket, asio::dynamic_buffer(buf, max_buffered),
                                                 "\r\n", use_awaitable);
        std::string line = buf.substr(0, n - 2);
        buf.erase(0, n);
        co_return line;
    }

    static awaitable<void> read_chunked(tcp::socket& socket, std::string& buf, std::string& body) {
        for (;;) {
            std::string line = co_await read_line(socket, buf);
            std::size_t size = parse_size(std::string_view(line).substr(0, line.find(';')), 16);
            if (size == 0)
                break;
            co_await fill(socket, buf, size + 2);
            if (buf.compare(size, 2, "\r\n") != 0)
                throw bad_request("chunk not followed by CRLF");
            body.append(buf, 0, size);
            buf.erase(0, size + 2);
        }
        while (!(co_await read_line(socket, buf)).empty()) {
            // trailers: ignored
        }
    }

    // Reads (and drops) whatever the client sends until it closes or the
    // server stops.
    static awaitable<void> stall(tcp::socket& socket) {
        char scratch[1024];
        for (;;)
            co_await socket.async_read_some(asio::buffer(scratch), use_awaitable);
    }

    awaitable<void> serve(std::shared_ptr<connection> c) {
        std::string buf;
        try {
            for (bool keep_alive = true; keep_alive && !stopping;) {
                auto n = co_await asio::async_read_until(
                    c->socket, asio::dynamic_buffer(buf, max_buffered), "\r\n\r\n", use_awaitable);
                std::string version;
                received_request req = parse_head(std::string_view(buf).substr(0, n - 4), version);
                buf.erase(0, n);
                req.connection = c->id;

                const bool chunked = icontains(req.header("Transfer-Encoding"), "chunked");
                const std::string length = req.header("Content-Length");
                const std::size_t content_length = length.empty() ? 0 : parse_size(length, 10);
                if ((chunked || content_length > 0) &&
                    iequals(req.header("Expect"), "100-continue")) {
                    co_await asio::async_write(c->socket,
                                               asio::buffer("HTTP/1.1 100 Continue\r\n\r\n", 25),
                                               use_awaitable);
                }
                if (chunked) {
                    co_await read_chunked(c->socket, buf, req.body);
                } else if (content_length > 0) {
                    co_await fill(c->socket, buf, content_length);
                    req.body = buf.substr(0, content_length);
                    buf.erase(0, content_length);
                }

                const std::string connection_header = req.header("Connection");
                keep_alive = version == "HTTP/1.1" ? !icontains(connection_header, "close")
                                                   : icontains(connection_header, "keep-alive");
                const std::string method = req.method;
                response r = next_response(req);
                record(std::move(req));

                if (r.delay.count() > 0) {
                    if (stopping)
                        break;
                    c->timer.expires_after(r.delay);
                    co_await c->timer.async_wait(use_awaitable);
                }

                std::error_code ignored;
                switch (r.what) {
                case behaviour::reply: {
                    std::string out = format_head(r, keep_alive);
                    if (method != "HEAD")
                        out += r.body;
                    co_await asio::async_write(c->socket, asio::buffer(out), use_awaitable);
                    break;
                }
                case behaviour::stall_before_headers:
                    co_await stall(c->socket);
                    break;
                case behaviour::half_body_then_stall: {
                    std::string out = format_head(r, keep_alive);
                    out.append(r.body, 0, r.body.size() / 2);
                    co_await asio::async_write(c->socket, asio::buffer(out), use_awaitable);
                    co_await stall(c->socket);
                    break;
                }
                case behaviour::reset:
                    c->socket.set_option(asio::socket_base::linger(true, 0), ignored);
                    c->socket.close(ignored);
                    keep_alive = false;
                    break;
                case behaviour::close_without_reply:
                    c->socket.shutdown(tcp::socket::shutdown_send, ignored);
                    keep_alive = false;
                    break;
                }
            }
        } catch (const std::system_error& e) {
            // EOF or reset: the client ended the connection (a cancelled
            // transfer's). Anything else: the server stopping.
            if (e.code() == asio::error::eof || e.code() == asio::error::connection_reset) {
                {
                    std::lock_guard lock(mutex);
                    closed_by_client.insert(c->id);
                }
                arrived.notify_all();
            }
        } catch (const std::exception&) {
            // A malformed request: drop the connection.
        }
        std::error_code ignored;
        c->socket.close(ignored);
        open.erase(c->id);
    }
};

test_server::test_server(std::uint16_t port) : impl_(std::make_unique<impl>(port)) {}

test_server::~test_server() = default;

std::uint16_t test_server::port() const {
    return impl_->port;
}

std::string test_server::url(std::string_view path) const {
    return "http://127.0.0.1:" + std::to_string(impl_->port) + std::string(path);
}

void test_server::script(std::string path, std::vector<response> responses) {
    std::lock_guard lock(impl_->mutex);
    impl_->scripts.insert_or_assign(std::move(path), impl::scripted{std::move(responses), 0});
}

void test_server::respond_with(responder decide) {
    auto shared = decide ? std::make_shared<const responder>(std::move(decide)) : nullptr;
    std::lock_guard lock(impl_->mutex);
    impl_->decide = std::move(shared);
}

std::vector<received_request> test_server::requests(std::string_view path) const {
    std::lock_guard lock(impl_->mutex);
    if (path.empty())
        return impl_->received;
    std::vector<received_request> out;
    for (const auto& r : impl_->received)
        if (std::string_view(r.target).substr(0, r.target.find('?')) == path)
            out.push_back(r);
    return out;
}

int test_server::count(std::string_view path) const {
    std::lock_guard lock(impl_->mutex);
    return static_cast<int>(std::ranges::count_if(impl_->received, [&](const auto& r) {
        return std::string_view(r.target).substr(0, r.target.find('?')) == path;
    }));
}

int test_server::connections() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->accepted;
}

bool test_server::wait_for_client_close(int connection, std::chrono::milliseconds timeout) const {
    std::unique_lock lock(impl_->mutex);
    return impl_->arrived.wait_for(lock, timeout,
                                   [&] { return impl_->closed_by_client.contains(connection); });
}

bool test_server::wait_for_requests(std::string_view path, int n,
                                    std::chrono::milliseconds timeout) const {
    std::unique_lock lock(impl_->mutex);
    return impl_->arrived.wait_for(lock, timeout, [&] {
        return std::ranges::count_if(impl_->received, [&](const auto& r) {
                   return std::string_view(r.target).substr(0, r.target.find('?')) == path;
               }) >= n;
    });
}

// --- full_listener --------------------------------------------------------------------------

full_listener::full_listener() {
    auto fail = [this](const std::string& what) {
        std::string message = "full_listener: " + what + ": " + std::strerror(errno);
        close_all();
        throw std::runtime_error(message);
    };

    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;

    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listener_ < 0)
        fail("socket");
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
        fail("bind");
    if (::listen(listener_, 0) != 0)
        fail("listen");
    if (::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
        fail("getsockname");
    port_ = ntohs(addr.sin_port);

    // Connect until one connect stays pending: the ones that complete sit in
    // the accept queue (never accepted) and keep it full.
    for (int attempt = 0; attempt < 16; ++attempt) {
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            fail("socket");
        if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 &&
            errno != EINPROGRESS) {
            ::close(fd);
            fail("connect");
        }
        pollfd p{fd, POLLOUT, 0};
        int ready = ::poll(&p, 1, 200);
        if (ready == 0) { // still pending: the queue is full
            ::close(fd);
            return;
        }
        int error = 0;
        socklen_t error_len = sizeof error;
        if (ready < 0 || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &error_len) != 0 ||
            error != 0) {
            ::close(fd);
            errno = error;
            fail("connect (filling the queue)");
        }
        fillers_.push_back(fd);
    }
    errno = 0;
    fail("the accept queue did not fill after 16 connections");
}

full_listener::~full_listener() {
    close_all();
}

void full_listener::close_all() noexcept {
    for (int fd : fillers_)
        ::close(fd);
    fillers_.clear();
    if (listener_ >= 0)
        ::close(listener_);
    listener_ = -1;
}

} // namespace keel::test::http
