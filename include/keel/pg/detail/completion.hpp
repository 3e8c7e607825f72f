// The user's handler behind a virtual call, so keel::pg's machinery is
// compiled once and not per handler type.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/dispatch.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>

#include <tuple>
#include <utility>

namespace keel::pg::detail {

template <class... Args>
class completion {
public:
    virtual ~completion() = default;
    /// Called once, on the pool's strand, never inside a libpq callback.
    /// `in_initiation`: the initiating function has not returned yet, so the
    /// handler is posted; otherwise it is dispatched (run at once when this
    /// thread already runs the handler's executor: no extra trip through the
    /// scheduler per call).
    virtual void complete(bool in_initiation, Args... args) = 0;
};

template <class Handler, class... Args>
class completion_for final : public completion<Args...> {
public:
    /// `fallback`: where the handler runs when it names no executor of its own.
    completion_for(Handler handler, const asio::any_io_executor& fallback)
        : handler_(std::move(handler)), work_(asio::get_associated_executor(handler_, fallback)) {}

    void complete(bool in_initiation, Args... args) override {
        auto executor = work_.get_executor();
        auto upcall = [handler = std::move(handler_), work = std::move(work_),
                       values = std::make_tuple(std::move(args)...)]() mutable {
            // The slot is the caller's: free it on the caller's executor,
            // where it may be emitted, before the handler reuses it.
            auto slot = asio::get_associated_cancellation_slot(handler);
            if (slot.is_connected())
                slot.clear();
            std::apply(std::move(handler), std::move(values));
        };
        if (in_initiation)
            asio::post(executor, std::move(upcall));
        else
            asio::dispatch(executor, std::move(upcall));
    }

private:
    Handler handler_;
    asio::executor_work_guard<asio::associated_executor_t<Handler, asio::any_io_executor>> work_;
};

/// What a cancellation slot holds; it may fire after the call ended (then it
/// does nothing).
class cancel_handle {
public:
    virtual ~cancel_handle() = default;
    virtual void cancel() = 0;
    /// Starts the call (after the caller connected its cancellation slot,
    /// so that no completion can race the slot's assignment).
    virtual void start() = 0;
};

} // namespace keel::pg::detail
