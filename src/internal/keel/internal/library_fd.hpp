// The one way keel puts a C library's file descriptor on the Asio loop
// (libpq's PQsocket(), librdkafka's queue eventfd, and keel::http's epoll set
// of libcurl's sockets).
//
// Internal: not installed, reached only by keel's own targets (their PRIVATE
// include path src/internal). No public header needs it.
//
// The library owns the descriptor: it opens, replaces and closes it. Asio only
// waits for readiness, so the descriptor is non-owning (released, never
// closed, by this object). A readiness completion that was already queued
// when the library closed or replaced the descriptor cannot be recalled:
// every wait holds a shared owner and reports operation_aborted once
// release() was called.
#pragma once

#include <keel/detail/block_cache.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/associated_allocator.hpp>
#include <asio/bind_allocator.hpp>
#include <asio/error.hpp>
#include <asio/posix/stream_descriptor.hpp>

#include <memory>
#include <system_error>
#include <utility>

namespace keel::detail {

class library_fd : public std::enable_shared_from_this<library_fd> {
public:
    /// `executor`: where the waits complete (a client's strand, usually).
    static std::shared_ptr<library_fd> make(const asio::any_io_executor& executor, int fd) {
        return std::shared_ptr<library_fd>(new library_fd(executor, fd));
    }

    library_fd(const library_fd&) = delete;
    library_fd& operator=(const library_fd&) = delete;
    ~library_fd() { release(); }

    int native() const noexcept { return fd_; }
    bool waiting_read() const noexcept { return waiting_[0]; }
    bool waiting_write() const noexcept { return waiting_[1]; }

    /// Waits until the descriptor is readable, once; `handler(std::error_code)`
    /// runs on the executor. At most one read wait is pending: returns false
    /// (and drops `handler`) when one already is, or when released().
    template <class Handler>
    bool wait_readable(Handler&& handler) {
        return wait(asio::posix::stream_descriptor::wait_read, 0, std::forward<Handler>(handler));
    }
    /// As wait_readable, for writability.
    template <class Handler>
    bool wait_writable(Handler&& handler) {
        return wait(asio::posix::stream_descriptor::wait_write, 1, std::forward<Handler>(handler));
    }

    /// Ends the pending waits with operation_aborted; the descriptor stays
    /// watched-for (new waits may be started).
    void cancel() noexcept {
        std::error_code ignored;
        descriptor_.cancel(ignored);
    }

    /// The library is about to close or replace the descriptor: pending
    /// waits end with operation_aborted and no new one starts. Never closes.
    void release() noexcept {
        if (released_)
            return;
        released_ = true;
        cancel();
        (void)descriptor_.release();
    }

private:
    library_fd(const asio::any_io_executor& executor, int fd)
        : descriptor_(executor, fd), fd_(fd) {}

    template <class Handler>
    bool wait(asio::posix::stream_descriptor::wait_type type, int slot, Handler&& handler) {
        if (released_ || waiting_[slot])
            return false;
        waiting_[slot] = true;
        // The wait's operation comes from the handler's allocator or else
        // keel's per-thread block cache: Asio's default cache keeps two
        // blocks per thread, and a client with 16 requests in flight has
        // up to 16 waits pending, so most of them would go to the heap.
        auto allocator = asio::get_associated_allocator(handler, cached_allocator<void>());
        auto on_ready = [self = shared_from_this(), slot,
                         h = std::forward<Handler>(handler)](std::error_code ec) mutable {
            self->waiting_[slot] = false;
            if (self->released_)
                ec = asio::error::operation_aborted;
            std::move(h)(ec);
        };
        descriptor_.async_wait(type, asio::bind_allocator(allocator, std::move(on_ready)));
        return true;
    }

    asio::posix::stream_descriptor descriptor_;
    int fd_;
    bool released_ = false;
    bool waiting_[2] = {false, false};
};

} // namespace keel::detail
