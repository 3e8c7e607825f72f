// What the engine does with an attempt that a fault rule picked
// (keel/fault_injection.hpp): completes it with the injected error, holds it
// until a cancellation (a hang), or starts the operation after a delay that
// the attempt's cancellation (its exchange deadline) cuts short.
#pragma once

#include <keel/fault_injection.hpp>

#include <asio/bind_allocator.hpp>
#include <asio/bind_executor.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/error.hpp>
#include <asio/post.hpp>

#include <system_error>
#include <utility>

namespace keel::detail {

/// A posted attempt completion with default values: an injected error, or
/// the end of an injected hang or delay.
template <class Handler, class... Ts>
struct injected_result {
    Handler handler;
    std::error_code error;
    void operator()() { std::move(handler)(error, Ts()...); }
};

/// Completes `handler` with `error` through a post to `executor`: never
/// inside the engine's own start of the attempt.
template <class... Ts, class Executor, class Allocator, class Handler>
void post_attempt_result(const Executor& executor, const Allocator& allocator, Handler&& handler,
                         std::error_code error) {
    asio::post(executor,
               asio::bind_allocator(allocator, injected_result<std::decay_t<Handler>, Ts...>{
                                                   std::forward<Handler>(handler), error}));
}

/// A hang ends only when the attempt is cancelled (a deadline, the caller, a
/// winning hedge). One-shot: the slot may keep it after the attempt ended.
template <class Hooks>
struct hang_canceller {
    Hooks hooks;
    bool fired = false;
    void operator()(asio::cancellation_type_t) {
        if (!std::exchange(fired, true))
            hooks.complete(asio::error::operation_aborted);
    }
};

/// Injected latency: the operation starts when `timer` expires; a
/// cancellation of the attempt cancels the timer and ends the attempt.
template <class Timer, class Hooks>
struct delayed_attempt {
    Timer timer;
    Hooks hooks;
    asio::cancellation_slot slot;
    bool cancelled = false;

    struct canceller {
        delayed_attempt* delayed;
        void operator()(asio::cancellation_type_t) {
            delayed->cancelled = true;
            // A new expiry cancels the pending wait: the one timer operation
            // every Timer of keel's deadline service has.
            delayed->timer.expires_at(Timer::clock_type::time_point::max());
        }
    };
    struct expired {
        delayed_attempt* delayed;
        void operator()(std::error_code) {
            const Hooks hooks = delayed->hooks;
            const bool cancelled = delayed->cancelled;
            delayed->slot.clear(); // the operation installs its own handler
            delete delayed;
            if (cancelled)
                hooks.complete(asio::error::operation_aborted);
            else
                hooks.start();
        }
    };
};

/// Applies `rule` to an attempt. `hooks.complete(ec)` ends the attempt
/// (posted), `hooks.start()` starts the real operation; `slot` is the
/// attempt's cancellation slot; the delay's timer runs on `io_executor`, its
/// expiry on `executor`. An error rule's error is `hooks.injected_error(ec)`:
/// the generic one as the operation's wrapper reports it, asked only then.
template <class Timer, class Attempt, class Executor, class IoExecutor, class Hooks>
void inject_fault(const fault_rule& rule, const Attempt& attempt, asio::cancellation_slot slot,
                  const Executor& executor, const IoExecutor& io_executor, const Hooks& hooks) {
    switch (rule.kind) {
    case fault_kind::error:
        // As the wrapper advises it (an HTTP 503's Retry-After).
        if (rule.retry_after && attempt.has_feedback())
            attempt.feedback().retry_after(*rule.retry_after);
        hooks.complete(hooks.injected_error(rule.error));
        return;
    case fault_kind::hang:
        slot.template emplace<hang_canceller<Hooks>>(hang_canceller<Hooks>{hooks});
        return;
    case fault_kind::latency: {
        using delayed_type = delayed_attempt<Timer, Hooks>;
        auto* delayed = new delayed_type{Timer(io_executor), hooks, slot};
        delayed->timer.expires_at(Timer::clock_type::now() + rule.delay);
        slot.template emplace<typename delayed_type::canceller>(
            typename delayed_type::canceller{delayed});
        delayed->timer.async_wait(
            asio::bind_executor(executor, typename delayed_type::expired{delayed}));
        return;
    }
    }
}

} // namespace keel::detail
