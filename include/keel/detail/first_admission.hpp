// A call's first attempt put to the breaker before the call is built: a call
// an open breaker refuses then costs one deferred completion, not the call's state, its
// machine and a resumption (pipeline.hpp asks; BM_keel_breaker_rejects
// measures it). An admitted first attempt keeps its permit: the machine takes
// it instead of asking again (call_machine::breaker_admitted_first).
#pragma once

#include <keel/detail/executor_target.hpp>
#include <keel/detail/recycled_allocator.hpp>
#include <keel/detail/run_op.hpp>
#include <keel/error.hpp>
#include <keel/fault.hpp>
#include <keel/observer.hpp>
#include <keel/strategy.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/associated_allocator.hpp>
#include <asio/associated_executor.hpp>
#include <asio/defer.hpp>
#include <asio/io_context.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

namespace keel::detail {

/// The waiter given when asking before the call exists, with the call's
/// endpoint: a breaker never makes an attempt wait, and a strategy in its
/// place that does is withdrawn at once (the call then asks it again, with
/// a waiter of its own).
struct no_waiter final : admission_waiter {
    explicit no_waiter(std::string_view endpoint) noexcept { set_endpoint(endpoint); }
    void admitted() noexcept override {}
};

/// What the breaker answered for a call's first attempt.
enum class first_admission : std::uint8_t { not_asked, admitted, refused };

/// Whether the chain's breaker is asked about a call's first attempt before
/// the call is built: not when the chain has a retry gate that must hear of
/// every call before its first admission (one that may refuse calls).
inline bool ask_breaker_first(const strategy_chain& chain) noexcept {
    return chain.breaker && (!chain.gate || !chain.gate->hears_every_call());
}

/// What `answer`, the breaker's to a call's first attempt, means. A wait
/// (from a strategy in the breaker's place) is withdrawn at once, a
/// reservation handed back (at the time `clock` reads). Always inlined: a
/// chain with a breaker asks it at every call, and admitted is one test.
[[gnu::always_inline]] inline first_admission settle_first(admission_strategy& breaker,
                                                           admission& answer,
                                                           admission_waiter& waiter,
                                                           lazy_time::reader clock) noexcept {
    if (answer.admitted)
        return first_admission::admitted;
    if (!answer.wait)
        return first_admission::refused;
    if (answer.reserved) { // the call asks again, and waits then
        breaker.release_at(lazy_time(clock), nullptr, answer.ticket);
        return first_admission::not_asked;
    }
    if (breaker.withdraw(waiter))
        return first_admission::not_asked; // it holds nothing: the call asks again
    answer = admission::admit(0);          // admitted meanwhile: a permit, no ticket
    return first_admission::admitted;
}

/// The call_report of a call whose first attempt was refused: what
/// call_machine::report() says of it.
inline call_report refused_report(std::error_code why,
                                  std::optional<std::chrono::nanoseconds> retry_after) {
    call_report r;
    r.attempts = 0;
    r.outcome = call_outcome::rejected;
    r.reason = give_up_reason::rejected;
    r.error = why;
    r.fault = fault_class::rejected;
    r.refusal = why;
    r.retry_after = retry_after;
    return r;
}

/// The completion of a call refused before its first attempt, posted to the
/// handler's executor: the observer's call_end, the report, then the
/// handler with the refusal and default-constructed values.
template <class Handler, class Allocator, class Observer, class... Ts>
class refused_call {
public:
    using allocator_type = Allocator;

    template <class H>
    refused_call(H&& handler, const Allocator& allocator, const Observer& observer,
                 std::string_view name, call_report* report, const admission& refusal)
        : handler_(std::forward<H>(handler)), allocator_(allocator), observer_(&observer),
          name_(name), report_(report), why_(refusal.refusal), retry_after_(refusal.retry_after) {}

    void operator()() {
        if constexpr (observer_enabled_v<Observer>)
            observer_->on(events::call_end{name_, call_outcome::rejected, 0, why_,
                                           std::chrono::nanoseconds(0), why_});
        if (report_)
            *report_ = refused_report(why_, retry_after_);
        std::move(handler_)(why_, Ts{}...);
    }

    allocator_type get_allocator() const noexcept { return allocator_; }

private:
    Handler handler_;
    [[no_unique_address]] Allocator allocator_;
    const Observer* observer_;
    std::string_view name_;
    call_report* report_;
    std::error_code why_;
    std::optional<std::chrono::nanoseconds> retry_after_;
};

template <class Signature>
struct refusal_poster;

template <class... Ts>
struct refusal_poster<void(std::error_code, Ts...)> {
    template <class Handler, class Executor, class Observer>
    static void post(Handler&& handler, const Executor& fallback,
                     const asio::io_context::executor_type* plain_fallback,
                     const Observer& observer, std::string_view name, call_report* report,
                     const admission& refusal) {
        using handler_type = std::decay_t<Handler>;
        using associated = asio::associated_allocator_t<handler_type>;
        using allocator_type = typename recycled<associated>::type;
        using call_type = refused_call<handler_type, allocator_type, Observer, Ts...>;
        const allocator_type allocator =
            recycled<associated>::from(asio::get_associated_allocator(handler));
        // Deferred, not posted: the refusal is the continuation of the code
        // that called async_run, so a thread running the handler's
        // io_context queues it on its own queue, without the scheduler's
        // lock (Asio's is_continuation). It still never runs inline.
        if constexpr (!has_own_executor_v<handler_type>) {
            // The pipeline's executor, its type known since construction.
            call_type call(std::forward<Handler>(handler), allocator, observer, name, report,
                           refusal);
            if (plain_fallback)
                asio::defer(*plain_fallback, std::move(call));
            else
                asio::defer(fallback, std::move(call));
        } else {
            const auto executor = asio::get_associated_executor(handler, fallback);
            call_type call(std::forward<Handler>(handler), allocator, observer, name, report,
                           refusal);
            if constexpr (std::is_same_v<std::decay_t<decltype(executor)>, asio::any_io_executor>) {
                // A plain io_context behind it: without the type erasure.
                if (const auto* typed = plain_context_executor(executor)) {
                    asio::defer(*typed, std::move(call));
                    return;
                }
            }
            asio::defer(executor, std::move(call));
        }
    }
};

/// Completes a call refused before its first attempt: `handler` gets the
/// refusal through its associated executor (`fallback` if none;
/// `plain_fallback` is that one's io_context executor, if it is one), never
/// inline.
template <class Signature, class Handler, class Executor, class Observer>
void post_refusal(Handler&& handler, const Executor& fallback,
                  const asio::io_context::executor_type* plain_fallback, const Observer& observer,
                  std::string_view name, call_report* report, const admission& refusal) {
    refusal_poster<Signature>::post(std::forward<Handler>(handler), fallback, plain_fallback,
                                    observer, name, report, refusal);
}

} // namespace keel::detail
