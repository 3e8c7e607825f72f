// What the wrappers' public objects (http::client, pg::pool,
// kafka::producer, kafka::consumer) are made of: the executor their
// handlers fall back on and a shared implementation that outlives them while
// completions are queued. Not copyable, like an Asio I/O object. Destroying
// one calls `shut_down(impl)`, which each wrapper declares next to its
// implementation: it ends the calls still pending.
#pragma once

#include <asio/any_io_executor.hpp>

#include <memory>
#include <utility>

namespace keel::detail {

template <class Impl>
class io_object {
public:
    using executor_type = asio::any_io_executor;

    io_object(const io_object&) = delete;
    io_object& operator=(const io_object&) = delete;

    executor_type get_executor() const noexcept { return executor_; }

protected:
    /// Makes the implementation from the executor and `options` (in the
    /// wrapper's .cpp, where Impl is complete).
    template <class Options>
    io_object(const executor_type& executor, Options&& options)
        : executor_(executor),
          impl_(std::make_shared<Impl>(executor, std::forward<Options>(options))) {}
    ~io_object() { shut_down(impl_); }

    /// The base of an initiation object for asio::async_initiate: Asio asks
    /// it for the executor (the object's).
    template <class Object>
    struct initiation {
        Object* self;
        using executor_type = asio::any_io_executor;
        executor_type get_executor() const noexcept { return self->get_executor(); }
    };

    executor_type executor_;
    std::shared_ptr<Impl> impl_;
};

} // namespace keel::detail
