// The user's handler behind a virtual call, so keel::pg's machinery is
// compiled once and not per handler type.
#pragma once

#include <keel/detail/block_cache.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/associated_allocator.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/dispatch.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>

#include <memory>
#include <tuple>
#include <utility>

namespace keel::pg::detail {

template <class... Args>
class completion {
public:
    /// Called once, on the pool's strand, never inside a libpq callback;
    /// frees the completion before the handler runs (as Asio frees an
    /// operation before its upcall, so the handler's next call can reuse the
    /// memory). `in_initiation`: the initiating function has not returned
    /// yet, so the handler is posted; otherwise it is dispatched (run at once
    /// when this thread already runs the handler's executor: no extra trip
    /// through the scheduler per call).
    virtual void complete(bool in_initiation, Args... args) = 0;
    /// Frees a completion that never completed.
    virtual void destroy() noexcept = 0;

protected:
    ~completion() = default;
};

struct completion_deleter {
    template <class... Args>
    void operator()(completion<Args...>* c) const noexcept {
        c->destroy();
    }
};
template <class... Args>
using completion_ptr = std::unique_ptr<completion<Args...>, completion_deleter>;

template <class Handler, class... Args>
class completion_for final : public completion<Args...> {
    // Without an allocator of its own, a handler's completion comes from
    // keel's per-thread block cache (keel/detail/block_cache.hpp); a
    // handler's own allocator is used as is.
    using allocator_type = typename std::allocator_traits<asio::associated_allocator_t<
        Handler, keel::detail::cached_allocator<void>>>::template rebind_alloc<completion_for>;

public:
    /// Allocated with the handler's associated allocator. `fallback`: where
    /// the handler runs when it names no executor of its own.
    static completion_ptr<Args...> make(Handler handler, const asio::any_io_executor& fallback) {
        allocator_type allocator(
            asio::get_associated_allocator(handler, keel::detail::cached_allocator<void>()));
        completion_for* p = std::allocator_traits<allocator_type>::allocate(allocator, 1);
        try {
            new (p) completion_for(std::move(handler), fallback, allocator);
        } catch (...) {
            std::allocator_traits<allocator_type>::deallocate(allocator, p, 1);
            throw;
        }
        return completion_ptr<Args...>(p);
    }

    void destroy() noexcept override {
        allocator_type allocator(allocator_);
        this->~completion_for();
        std::allocator_traits<allocator_type>::deallocate(allocator, this, 1);
    }

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
        destroy(); // nothing of this object is used below
        if (in_initiation)
            asio::post(executor, std::move(upcall));
        else
            asio::dispatch(executor, std::move(upcall));
    }

private:
    completion_for(Handler handler, const asio::any_io_executor& fallback,
                   const allocator_type& allocator)
        : handler_(std::move(handler)), work_(asio::get_associated_executor(handler_, fallback)),
          allocator_(allocator) {}
    ~completion_for() = default;

    Handler handler_;
    asio::executor_work_guard<asio::associated_executor_t<Handler, asio::any_io_executor>> work_;
    allocator_type allocator_;
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
