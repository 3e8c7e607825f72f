// Where a client runs its library calls one at a time (keel::http, keel::pg).
//
// A client's state must be touched by one handler at a time. When the
// executor the user gives already guarantees that -- a strand, or an
// io_context / thread_pool built with concurrency hint 1 (the caller promised
// Asio a single thread) -- a strand over it would only add a queue hop to
// every step; otherwise the client makes a strand of its own.
//
// Internal: not installed, reached only by keel's own targets (their PRIVATE
// include path src/internal).
#pragma once

#include <keel/detail/executor_target.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/io_context.hpp>
#include <asio/strand.hpp>

#include <utility>

namespace keel::detail {

inline asio::any_io_executor serial_executor(asio::any_io_executor executor) {
    using io_executor = asio::io_context::executor_type;
    if (target_if<asio::strand<asio::any_io_executor>>(executor) ||
        target_if<asio::strand<io_executor>>(executor))
        return executor;
    asio::execution_context& context = asio::query(executor, asio::execution::context);
    if (asio::has_service<asio::detail::scheduler>(context) &&
        asio::use_service<asio::detail::scheduler>(context).concurrency_hint() == 1)
        return executor;
    return asio::make_strand(std::move(executor));
}

/// Whether the calling thread is running `serial` now (one serial_executor
/// returned): then the state it guards may be touched directly. Asked of
/// the concrete executor: a dispatch through the type-erased one costs a
/// wrapped function.
inline bool running_in(const asio::any_io_executor& serial) noexcept {
    using io_executor = asio::io_context::executor_type;
    if (const auto* io = target_if<io_executor>(serial))
        return io->running_in_this_thread();
    if (const auto* strand = target_if<asio::strand<asio::any_io_executor>>(serial))
        return strand->running_in_this_thread();
    if (const auto* strand = target_if<asio::strand<io_executor>>(serial))
        return strand->running_in_this_thread();
    return false;
}

} // namespace keel::detail
