// The caller's handler behind a virtual call, so keel::kafka's machinery is
// compiled once and not per handler type.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/dispatch.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>

#include <atomic>
#include <system_error>
#include <tuple>
#include <utility>

namespace keel::kafka::detail {

/// How a completion reaches the caller's executor.
enum class upcall {
    /// From a handler of our own (a readiness wake-up), never from the
    /// initiating function: runs at once when already on that executor,
    /// as Asio's own I/O objects do.
    dispatch,
    /// From anywhere else (a cancellation, a worker thread, a failure found
    /// while initiating).
    post,
};

/// One pending operation completing with `void(std::error_code, Values...)`.
/// Reference counted: librdkafka holds a reference until it reports on the
/// operation, a cancellation slot holds one while it is installed.
template <class... Values>
class operation {
public:
    operation(const operation&) = delete;
    operation& operator=(const operation&) = delete;

    /// Completes the caller's handler, once.
    virtual void complete(std::error_code ec, upcall how, Values... values) = 0;

    void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
    void release() noexcept {
        if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1)
            delete this;
    }

    /// True for the one caller that may complete the operation: a report
    /// and a cancellation can race from different threads.
    bool claim() noexcept { return !finished_.exchange(true, std::memory_order_acq_rel); }

protected:
    operation() = default;
    virtual ~operation() = default;

private:
    std::atomic<int> refs_{1};
    std::atomic<bool> finished_{false};
};

template <class Handler, class... Values>
class operation_for final : public operation<Values...> {
public:
    /// `fallback`: where the handler runs when it names no executor of its own.
    operation_for(Handler handler, const asio::any_io_executor& fallback)
        : handler_(std::move(handler)), work_(asio::get_associated_executor(handler_, fallback)) {}

    void complete(std::error_code ec, upcall how, Values... values) override {
        auto executor = work_.get_executor();
        auto upcall_fn = [handler = std::move(handler_), work = std::move(work_), ec,
                          values = std::make_tuple(std::move(values)...)]() mutable {
            // The slot is the caller's: free it on the caller's executor
            // before the handler may reuse it.
            auto slot = asio::get_associated_cancellation_slot(handler);
            if (slot.is_connected())
                slot.clear();
            std::apply(
                [&](auto&&... v) { std::move(handler)(ec, std::forward<decltype(v)>(v)...); },
                std::move(values));
        };
        if (how == upcall::dispatch)
            asio::dispatch(executor, std::move(upcall_fn));
        else
            asio::post(executor, std::move(upcall_fn));
    }

private:
    Handler handler_;
    asio::executor_work_guard<asio::associated_executor_t<Handler, asio::any_io_executor>> work_;
};

/// Makes the operation for `handler`, with one reference (the caller's).
template <class... Values, class Handler>
operation<Values...>* make_operation(Handler&& handler, const asio::any_io_executor& fallback) {
    return new operation_for<std::decay_t<Handler>, Values...>(std::forward<Handler>(handler),
                                                               fallback);
}

} // namespace keel::kafka::detail
