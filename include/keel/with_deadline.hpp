// A deadline around any single asynchronous operation: the per-attempt
// timeout of a pipeline, usable on its own (e.g. for an attempt's connect phase).
#pragma once

#include <keel/detail/deadline_service.hpp>
#include <keel/detail/run_op.hpp>
#include <keel/detail/signature.hpp>
#include <keel/error.hpp>
#include <keel/observer.hpp>

#include <asio/async_result.hpp>
#include <asio/steady_timer.hpp>

#include <type_traits>
#include <utility>

namespace keel {

namespace detail {

/// Adapts `op(token)` to the factory shape `op(attempt, token)`.
template <class Op>
struct ignore_attempt {
    Op op;
    template <class Attempt, class Handler>
    auto operator()(const Attempt&, Handler&& handler) {
        return std::move(op)(std::forward<Handler>(handler));
    }
};

template <class Timer, class Executor, class Signature>
struct initiate_with_deadline {
    Executor executor;
    using executor_type = Executor;
    executor_type get_executor() const noexcept { return executor; }

    template <class Handler, class Op>
    void operator()(Handler&& handler, Op&& op, typename Timer::clock_type::time_point deadline,
                    errc on_expiry) const {
        call_params<typename Timer::clock_type::time_point> params;
        params.fixed_deadline = deadline;
        params.total_error = on_expiry;
        static constexpr null_observer observer{};
        run_op<std::decay_t<Handler>, ignore_attempt<std::decay_t<Op>>, Signature, Timer,
               null_observer, Executor>::start(std::forward<Handler>(handler),
                                               ignore_attempt<std::decay_t<Op>>{
                                                   std::forward<Op>(op)},
                                               params, deadline_service<Timer>::of(executor),
                                               observer, executor);
    }
};

} // namespace detail

/// Runs `op(token)` (any Asio-style operation, e.g. `sock.async_connect(ep,
/// asio::experimental::deferred)`) and, if it has not completed by
/// `deadline`, emits terminal cancellation into it and completes with
/// `on_expiry` (errc::timeout by default) once the operation has finished.
/// The operation's own result wins a race with the deadline.
///
/// The deadline lives in the context's shared deadline queue: no kernel timer
/// is touched per call.
///
/// Completion signature: that of `op`; the handler runs on its associated
/// executor (else `executor`), never inside this function. Errors: `op`'s
/// own, or `on_expiry` when the deadline cut it short.
/// Cancellation: terminal, partial and total cancellation are forwarded to
/// `op` with their type; the call then completes with operation_aborted once
/// `op` has. What a cancelled or expired `op` leaves behind is its own.
/// Lifetimes: `op` is moved into the call; `executor`'s context must outlive it.
template <class Timer = asio::steady_timer, class Executor, class Op,
          class Token = asio::default_completion_token_t<Executor>>
auto async_with_deadline(const Executor& executor, typename Timer::clock_type::time_point deadline,
                         errc on_expiry, Op&& op,
                         Token&& token = asio::default_completion_token_t<Executor>()) {
    using sig =
        typename detail::resolve_signature<detail::deduce_signature, std::decay_t<Op>>::type;
    return asio::async_initiate<Token, sig>(
        detail::initiate_with_deadline<Timer, Executor, sig>{executor}, token, std::forward<Op>(op),
        deadline, on_expiry);
}

/// `async_with_deadline(executor, now + timeout, errc::timeout, op, token)`.
template <class Timer = asio::steady_timer, class Executor, class Op,
          class Token = asio::default_completion_token_t<Executor>>
auto async_with_timeout(const Executor& executor, std::chrono::nanoseconds timeout, Op&& op,
                        Token&& token = asio::default_completion_token_t<Executor>()) {
    return async_with_deadline<Timer>(executor, deadline_after(Timer::clock_type::now(), timeout),
                                      errc::timeout, std::forward<Op>(op),
                                      std::forward<Token>(token));
}

} // namespace keel
