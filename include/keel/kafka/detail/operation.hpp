// The caller's handler behind a virtual call, so keel::kafka's machinery is
// compiled once and not per handler type.
#pragma once

#include <keel/kafka/detail/operation_pool.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/associated_allocator.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/bind_allocator.hpp>
#include <asio/dispatch.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>
#include <asio/recycling_allocator.hpp>
#include <asio/system_executor.hpp>

#include <atomic>
#include <memory>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <utility>

namespace keel::kafka::detail {

/// How a completion reaches the caller's executor.
enum class upcall {
    /// From a handler of our own (a readiness wake-up on the client's
    /// executor), never from the initiating function: runs at once when
    /// already on the handler's executor, as Asio's own I/O objects do.
    dispatch,
    /// From anywhere else (a cancellation, a worker thread, a failure found
    /// while initiating).
    post,
};

/// One pending operation completing with `void(std::error_code, Values...)`.
/// Reference counted: whoever holds it for completion (librdkafka until its
/// report, keel's queue of produces waiting for room) holds one reference, a
/// cancellation slot holds another while it is installed.
template <class... Values>
class operation {
public:
    operation(const operation&) = delete;
    operation& operator=(const operation&) = delete;

    /// Completes the caller's handler unless someone did already (a report
    /// and a cancellation can race from different threads), and drops the
    /// caller's reference either way.
    void finish(std::error_code ec, upcall how, Values... values) {
        if (!finished_.exchange(true, std::memory_order_acq_rel))
            complete(ec, how, std::move(values)...);
        else
            release();
    }

    void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
    void release() noexcept {
        if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1)
            destroy();
    }

protected:
    operation() = default;
    ~operation() = default;
    /// Moves the handler out, drops one reference (freeing the operation
    /// before the upcall, as Asio's rules ask, unless a cancellation slot
    /// still holds it: the upcall clears the slot first), then upcalls.
    virtual void complete(std::error_code ec, upcall how, Values... values) = 0;
    virtual void destroy() noexcept = 0;

private:
    std::atomic<int> refs_{1};
    std::atomic<bool> finished_{false};
};

template <class Handler, class... Values>
class operation_for final : public operation<Values...> {
    using handler_allocator =
        asio::associated_allocator_t<Handler, asio::recycling_allocator<void>>;
    using allocator_type =
        typename std::allocator_traits<handler_allocator>::template rebind_alloc<operation_for>;
    static constexpr bool has_own_executor =
        !std::is_same_v<asio::associated_executor_t<Handler, asio::system_executor>,
                        asio::system_executor>;

    // A handler naming no allocator of its own gets Asio's default.
    static constexpr bool has_default_allocator =
        std::is_same_v<handler_allocator, asio::recycling_allocator<void>>;

public:
    /// Allocated with the handler's associated allocator (Asio's recycling
    /// allocator when it has none), or from `pool` when given, the handler
    /// names no allocator and the operation fits in a block. `fallback`:
    /// where the handler runs when it names no executor of its own.
    static operation_for* make(Handler handler, const asio::any_io_executor& fallback,
                               operation_pool* pool) {
        allocator_type allocator(
            asio::get_associated_allocator(handler, asio::recycling_allocator<void>()));
        if constexpr (has_default_allocator &&
                      sizeof(operation_for) <= operation_pool::block_size &&
                      alignof(operation_for) <= operation_pool::block_align) {
            if (pool) {
                void* p = pool->allocate();
                try {
                    return new (p) operation_for(std::move(handler), fallback, allocator, pool);
                } catch (...) {
                    pool->deallocate(p);
                    throw;
                }
            }
        }
        operation_for* p = std::allocator_traits<allocator_type>::allocate(allocator, 1);
        try {
            return new (p) operation_for(std::move(handler), fallback, allocator, nullptr);
        } catch (...) {
            std::allocator_traits<allocator_type>::deallocate(allocator, p, 1);
            throw;
        }
    }

private:
    operation_for(Handler handler, const asio::any_io_executor& fallback,
                  const allocator_type& allocator, operation_pool* pool)
        : handler_(std::move(handler)), work_(work_for(handler_, fallback)), allocator_(allocator),
          pool_(pool) {}

    // Like Asio's I/O objects, work is tracked only on an executor of the
    // handler's own: the client's is kept busy by its pending wait anyway.
    using work_type = std::conditional_t<
        has_own_executor,
        asio::executor_work_guard<asio::associated_executor_t<Handler, asio::any_io_executor>>,
        asio::any_io_executor>;
    static work_type work_for(const Handler& handler, const asio::any_io_executor& fallback) {
        if constexpr (has_own_executor)
            return work_type(asio::get_associated_executor(handler, fallback));
        else
            return fallback;
    }
    auto executor() const {
        if constexpr (has_own_executor)
            return work_.get_executor();
        else
            return work_;
    }

    void complete(std::error_code ec, upcall how, Values... values) override {
        if constexpr (!has_own_executor) {
            // A handler without an executor of its own runs on the client's,
            // whose loop is running this very completion: dispatch would run
            // it inline after a type-erased round trip, so call it.
            if (how == upcall::dispatch) {
                Handler handler(std::move(handler_));
                this->release();
                call_handler(handler, ec, std::move(values)...);
                return;
            }
        }
        auto executor = this->executor();
        // The function object the executor may have to wrap is allocated
        // with the handler's allocator too (not plain new per completion).
        auto allocator =
            asio::get_associated_allocator(handler_, asio::recycling_allocator<void>());
        auto upcall_fn = [handler = std::move(handler_), work = std::move(work_), ec,
                          values = std::make_tuple(std::move(values)...)]() mutable {
            std::apply(
                [&](auto&&... v) { call_handler(handler, ec, std::forward<decltype(v)>(v)...); },
                std::move(values));
        };
        this->release();
        if (how == upcall::dispatch)
            asio::dispatch(executor, asio::bind_allocator(allocator, std::move(upcall_fn)));
        else
            asio::post(executor, asio::bind_allocator(allocator, std::move(upcall_fn)));
    }

    template <class... Args>
    static void call_handler(Handler& handler, std::error_code ec, Args&&... values) {
        // The slot is the caller's: free it on the caller's executor before
        // the handler may reuse it.
        auto slot = asio::get_associated_cancellation_slot(handler);
        if (slot.is_connected())
            slot.clear();
        std::move(handler)(ec, std::forward<Args>(values)...);
    }

    void destroy() noexcept override {
        if (operation_pool* pool = pool_) {
            this->~operation_for();
            pool->deallocate(this);
            return;
        }
        allocator_type allocator(allocator_);
        this->~operation_for();
        std::allocator_traits<allocator_type>::deallocate(allocator, this, 1);
    }

    Handler handler_;
    work_type work_;
    allocator_type allocator_;
    operation_pool* pool_; ///< where the memory came from, or null: allocator_
};

/// Makes the operation for `handler`, with one reference (the caller's);
/// from `pool` when one is given and the handler allows (see make()).
template <class... Values, class Handler>
operation<Values...>* make_operation(Handler&& handler, const asio::any_io_executor& fallback,
                                     operation_pool* pool = nullptr) {
    return operation_for<std::decay_t<Handler>, Values...>::make(std::forward<Handler>(handler),
                                                                 fallback, pool);
}

} // namespace keel::kafka::detail
