// The order service's HTTP API on cpp-httplib: its handler threads parse the
// request, hand the command to the service's one loop (cqrs::run_on_loop)
// and wait for the answer. cpp-httplib stays inside http_api.cpp.
#pragma once

#include <asio/io_context.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace cqrs {
class runtime;
}

namespace cqrs::orders {

class order_service;

class http_api {
public:
    /// `service` and `rt` must outlive this object; `service` runs on `io`.
    http_api(asio::io_context& io, order_service& service, const runtime& rt);
    ~http_api();
    http_api(const http_api&) = delete;
    http_api& operator=(const http_api&) = delete;

    /// Binds `host:port` (port 0: any free one) and returns the port.
    /// Throws std::runtime_error when the address cannot be bound.
    std::uint16_t bind(const std::string& host, int port);
    /// Serves on a thread of its own until stop(); then, once every handler
    /// has returned, calls `finished` on that thread.
    void start(std::function<void()> finished);
    /// Stops accepting; handlers still running finish. Any thread; idempotent.
    void stop();
    /// Waits for the serving thread (if started).
    void join();

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

} // namespace cqrs::orders
