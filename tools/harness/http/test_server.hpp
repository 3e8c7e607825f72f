// Test helpers for keel::http: an in-process HTTP/1.1 server that can
// misbehave at the socket level, request by request, and a TCP listener whose
// accept queue is full (a connect to it genuinely times out).
//
// Both are loopback-only (127.0.0.1, a free port) and clean up after
// themselves: destroying them closes every socket, stalled ones included.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace keel::test::http {

/// What the server does with one request, once it has read it in full.
enum class behaviour {
    reply,                ///< a normal response (status, headers, body), after `delay`
    stall_before_headers, ///< send nothing; keep the connection open until the server
                          ///< stops or the client closes
    half_body_then_stall, ///< send headers with the full body's Content-Length, then half
                          ///< of the body, then stall
    reset,                ///< close with SO_LINGER{1, 0}: the client sees ECONNRESET
    close_without_reply,  ///< close cleanly without a byte (curl: "Empty reply from server")
};

/// One scripted answer. `delay` is waited (real time, on the server's own
/// loop) before the behaviour runs, whatever the behaviour.
struct response {
    behaviour what = behaviour::reply;
    int status = 200;
    std::vector<std::pair<std::string, std::string>> headers{}; // e.g. {"Retry-After", "2"}
    std::string body = "ok";
    std::chrono::milliseconds delay{0};
};

/// A request as the server received it.
struct received_request {
    std::string method;
    std::string target;                                       ///< as sent, e.g. "/pay?x=1"
    std::vector<std::pair<std::string, std::string>> headers; ///< as received, names as sent
    std::string body;   ///< decoded (a chunked body is de-chunked)
    int connection = 0; ///< which accepted connection (1, 2, ...) carried it

    /// The first header named `name` (case-insensitive), "" if absent.
    std::string header(std::string_view name) const;
};

/// An HTTP/1.1 server on 127.0.0.1 with its own io_context on its own thread.
///
/// Keep-alive (sequential requests per connection), request bodies by
/// Content-Length or chunked, `Expect: 100-continue`, `Connection: close`,
/// HEAD. Responses always carry Content-Length (computed from the body; do
/// not script one). A request counts as received once its headers and body
/// are read, before its behaviour runs.
class test_server {
public:
    /// Listening on 127.0.0.1:`port` (0: a free one) before it returns;
    /// throws std::system_error if it cannot bind.
    explicit test_server(std::uint16_t port = 0);
    ~test_server(); ///< closes every connection (stalled ones too) and joins
    test_server(const test_server&) = delete;
    test_server& operator=(const test_server&) = delete;

    std::uint16_t port() const;
    std::string url(std::string_view path) const; ///< "http://127.0.0.1:PORT" + path

    /// Responses for requests whose path (target without query) equals
    /// `path`, in order; the last one repeats. Unscripted paths answer 200
    /// "ok" (or what the responder decides). Replaces an earlier script for
    /// `path`. Thread-safe.
    void script(std::string path, std::vector<response> responses);

    /// Decides the answer to every request whose path has no script, from
    /// the request itself (its body included). Called on the server's own
    /// thread, one request at a time, before the request counts as received;
    /// it must not block (a delay belongs in the response) and may call this
    /// server's other members. An exception it throws drops the connection.
    /// Replaces an earlier responder; an empty one restores 200 "ok".
    /// Thread-safe: a request already decided keeps its answer.
    using responder = std::function<response(const received_request&)>;
    void respond_with(responder decide);

    /// All requests received, or those to `path`, in arrival order. Thread-safe.
    std::vector<received_request> requests(std::string_view path = {}) const;
    int count(std::string_view path) const; ///< requests received on `path`
    int connections() const;                ///< connections accepted so far

    /// Blocks (at most `timeout`, real time) until count(path) >= n; returns
    /// whether it got there.
    bool wait_for_requests(std::string_view path, int n, std::chrono::milliseconds timeout) const;

    /// Blocks (at most `timeout`, real time) until the client has closed
    /// connection `connection` (received_request::connection): the server
    /// read the end of the stream or a reset from it. Returns whether it did.
    bool wait_for_client_close(int connection, std::chrono::milliseconds timeout) const;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

/// A TCP listener on 127.0.0.1 whose accept queue is full: a new connect()
/// to port() gets no SYN-ACK and stays pending until the client's own
/// timeout. Linux-specific (listen(0), queue filled by never-accepted
/// connections). Throws std::runtime_error if the queue cannot be filled.
class full_listener {
public:
    full_listener();
    ~full_listener();
    full_listener(const full_listener&) = delete;
    full_listener& operator=(const full_listener&) = delete;

    std::uint16_t port() const { return port_; }

private:
    void close_all() noexcept;

    int listener_ = -1;
    std::vector<int> fillers_;
    std::uint16_t port_ = 0;
};

} // namespace keel::test::http
