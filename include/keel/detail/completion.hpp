// The one bridge from a call of keel::http, keel::pg or keel::kafka to the
// caller's handler: the handler behind a virtual call, so that each wrapper's
// machinery is compiled once and not per handler type (as Boost.Beast's
// async_base::complete and Asio's c_callback_wrapper example do it).
//
// - Memory: the handler's associated allocator; when it names none, keel's
//   per-thread block cache (block_cache.hpp), or an operation_pool when the
//   wrapper gives one (a producer with thousands of produces in flight).
// - Freed before the upcall, so that the handler's next call can reuse the
//   memory, as Asio frees an operation before its upcall.
// - The upcall runs on the handler's associated executor (the client's when
//   the handler names none), after the handler's cancellation slot was
//   cleared there: the slot is the caller's, to reuse once the handler runs.
// - Work is tracked on an executor of the handler's own, as Asio's I/O
//   objects do; the client's executor is kept busy by the client's own
//   pending waits while a call is in flight.
#pragma once

#include <keel/detail/block_cache.hpp>
#include <keel/detail/operation_pool.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/associated_allocator.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/dispatch.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>
#include <asio/system_executor.hpp>

#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>

namespace keel::detail {

/// How a completion reaches the caller's handler.
enum class upcall {
    /// Only from a handler of our own running on the client's loop (a
    /// readiness wake-up, a job on the client's strand), never inside the
    /// initiating function nor a C library's callback: the handler runs at
    /// once when this thread already runs its executor, as it would after
    /// an Asio I/O object's operation.
    dispatch,
    /// Everywhere else: inside the initiating function (the handler must not
    /// run before it returns), inside a C library's callback (the library is
    /// not reentrant there), on a worker or librdkafka thread.
    post,
};

/// One pending call completing with `void(Values...)`.
template <class... Values>
class completion {
public:
    /// Called once: frees this completion, then hands `values` to the
    /// handler on its executor, as `how` says.
    virtual void complete(upcall how, Values... values) = 0;
    /// Frees a completion that never completed (its call never started).
    virtual void destroy() noexcept = 0;
    /// What the owner's hold ends with: complete() calls it before the
    /// upcall, completion_ptr when it drops a completion unused.
    void drop() noexcept { destroy(); }

protected:
    ~completion() = default;
};

struct completion_deleter {
    template <class Completion>
    void operator()(Completion* c) const noexcept {
        c->drop();
    }
};

/// The owner's hold on a completion (completion<...> or shared_completion<...>).
template <class Completion>
using completion_ptr = std::unique_ptr<Completion, completion_deleter>;

/// The completion of a call whose handler is of type `Handler`; `Base` is
/// completion or shared_completion.
template <class Handler, template <class...> class Base, class... Values>
class completion_for final : public Base<Values...> {
    using handler_allocator = asio::associated_allocator_t<Handler, cached_allocator<void>>;
    using allocator_type =
        typename std::allocator_traits<handler_allocator>::template rebind_alloc<completion_for>;
    // A handler naming no allocator of its own may get a pool's block.
    static constexpr bool default_allocator =
        std::is_same_v<handler_allocator, cached_allocator<void>>;
    static constexpr bool own_executor =
        !std::is_same_v<asio::associated_executor_t<Handler, asio::system_executor>,
                        asio::system_executor>;
    // Work on an executor of the handler's own; a handler without one runs on
    // the client's, which the client's pending waits keep busy.
    using work_type = std::conditional_t<
        own_executor,
        asio::executor_work_guard<asio::associated_executor_t<Handler, asio::any_io_executor>>,
        asio::any_io_executor>;

public:
    /// Allocated with the handler's associated allocator, else from `pool`
    /// when one is given (and the completion fits a block), else from the
    /// thread's block cache. `fallback`: where the handler runs when it
    /// names no executor of its own (the client's executor).
    static completion_ptr<Base<Values...>>
    make(Handler handler, const asio::any_io_executor& fallback, operation_pool* pool = nullptr) {
        allocator_type allocator(asio::get_associated_allocator(handler, cached_allocator<void>()));
        if constexpr (default_allocator && sizeof(completion_for) <= operation_pool::block_size &&
                      alignof(completion_for) <= operation_pool::block_align) {
            if (pool) {
                void* p = pool->allocate();
                try {
                    return completion_ptr<Base<Values...>>(
                        new (p) completion_for(std::move(handler), fallback, allocator, pool));
                } catch (...) {
                    pool->deallocate(p);
                    throw;
                }
            }
        }
        completion_for* p = std::allocator_traits<allocator_type>::allocate(allocator, 1);
        try {
            return completion_ptr<Base<Values...>>(
                new (p) completion_for(std::move(handler), fallback, allocator, nullptr));
        } catch (...) {
            std::allocator_traits<allocator_type>::deallocate(allocator, p, 1);
            throw;
        }
    }

    void destroy() noexcept override {
        if (operation_pool* pool = pool_) {
            this->~completion_for();
            pool->deallocate(this);
            return;
        }
        allocator_type allocator(allocator_);
        this->~completion_for();
        std::allocator_traits<allocator_type>::deallocate(allocator, this, 1);
    }

    void complete(upcall how, Values... values) override {
        if constexpr (!own_executor) {
            // The handler runs on the client's executor, which is running
            // this very completion (upcall::dispatch says so): dispatch
            // would run it at once after a type-erased round trip, so call it.
            if (how == upcall::dispatch) {
                Handler handler(std::move(handler_));
                Base<Values...>::drop(); // nothing of this object is used below
                call_handler(handler, std::move(values)...);
                return;
            }
        }
        auto executor = this->executor();
        // The function the executor may have to wrap is the handler's to
        // allocate too. The allocator is the function's own member, not an
        // asio::bind_allocator: Asio 1.22 wraps a bound function in a
        // work_dispatcher (a second trip through the executor: ~500
        // instructions per pg query, measured with callgrind).
        upcall_function<decltype(allocator_for_upcall())> fn{allocator_for_upcall(),
                                                             std::move(handler_), std::move(work_),
                                                             std::make_tuple(std::move(values)...)};
        Base<Values...>::drop(); // nothing of this object is used below
        if (how == upcall::dispatch)
            asio::dispatch(executor, std::move(fn));
        else
            asio::post(executor, std::move(fn));
    }

private:
    completion_for(Handler handler, const asio::any_io_executor& fallback,
                   const allocator_type& allocator, operation_pool* pool)
        : handler_(std::move(handler)), work_(work_for(handler_, fallback)), allocator_(allocator),
          pool_(pool) {}
    ~completion_for() = default;

    static work_type work_for(const Handler& handler, const asio::any_io_executor& fallback) {
        if constexpr (own_executor)
            return work_type(asio::get_associated_executor(handler, fallback));
        else
            return fallback;
    }
    auto executor() const {
        if constexpr (own_executor)
            return work_.get_executor();
        else
            return work_;
    }

    auto allocator_for_upcall() const {
        return asio::get_associated_allocator(handler_, cached_allocator<void>());
    }

    /// What the executor runs: the handler, its work and its values.
    template <class Allocator>
    struct upcall_function {
        using allocator_type = Allocator;
        allocator_type get_allocator() const noexcept { return allocator; }

        void operator()() {
            std::apply([&](auto&&... v) { call_handler(handler, std::move(v)...); },
                       std::move(values));
        }

        Allocator allocator;
        Handler handler;
        work_type work;
        std::tuple<Values...> values;
    };

    template <class... Args>
    static void call_handler(Handler& handler, Args&&... values) {
        // The slot is the caller's: free it on the caller's executor, where
        // it may be emitted, before the handler reuses it.
        auto slot = asio::get_associated_cancellation_slot(handler);
        if (slot.is_connected())
            slot.clear();
        std::move(handler)(std::forward<Args>(values)...);
    }

    Handler handler_;
    work_type work_;
    [[no_unique_address]] allocator_type allocator_;
    operation_pool* pool_; ///< where the memory came from, or null: allocator_
};

/// The completion of `handler` for a call completing with `void(Values...)`,
/// held by the caller (see completion_for::make).
template <template <class...> class Base, class... Values, class Handler>
completion_ptr<Base<Values...>> make_completion(Handler&& handler,
                                                const asio::any_io_executor& fallback,
                                                operation_pool* pool = nullptr) {
    return completion_for<std::decay_t<Handler>, Base, Values...>::make(
        std::forward<Handler>(handler), fallback, pool);
}

} // namespace keel::detail
