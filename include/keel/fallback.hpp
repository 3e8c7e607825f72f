// keel::with_fallback: an answer for a call whose policies could not get one
// from the dependency -- a cached value, a default, a degraded response.
#pragma once

#include <keel/detail/fault_selectors.hpp>
#include <keel/endpoint.hpp>
#include <keel/fault.hpp>
#include <keel/observer.hpp>

#include <chrono>
#include <system_error>
#include <type_traits>
#include <utility>

namespace keel {

/// What a fallback learns about the call it answers for.
struct fallback_context {
    std::error_code error;              ///< the call's final error
    call_report report;                 ///< the call as it ended, before the fallback
    std::chrono::nanoseconds time_left; ///< until the total deadline; max() when none
};

/// The fault classes a fallback answers by default: refusals, timeouts,
/// transient and throttled failures -- never a cancellation by the caller,
/// never a permanent error unless asked for.
inline constexpr fault_set default_fallback_on{fault_class::rejected, fault_class::timeout,
                                               fault_class::transient, fault_class::throttled};

/// An operation factory with a fallback: the outermost strategy of a call.
/// When the call ends with an error of a class in `on`, with time left
/// before its total deadline and not cancelled by the caller, keel runs
/// `fallback(context, token)` -- an asynchronous operation with the call's
/// completion signature -- and the call completes with its result instead
/// (call_outcome::fallback; call_report::original_error keeps the call's
/// error). If the fallback fails, the call completes with its own error and
/// call_report::fallback_error says why the fallback failed. No strategy
/// (breaker, budget, adaptive limit) ever records a fallback's result.
template <class Op, class Fallback>
struct with_fallback_t {
    Op op;
    Fallback fallback;
    fault_set on = default_fallback_on;

    /// The wrapped operation's endpoint, when it reports one (with_endpoint).
    std::string_view endpoint() const requires reports_endpoint<Op> { return op.endpoint(); }
    /// Whether the wrapped operation may be hedged (keel::idempotent); absent
    /// when it cannot say, so that such a call never builds the hedging engine.
    bool idempotent() const noexcept requires declares_idempotence<Op> { return op.idempotent(); }
    /// The wrapped operation's HTTP method and statement name, when it
    /// reports them, for fault rules' selectors.
    std::string_view fault_method() const noexcept requires detail::reports_fault_method<Op> {
        return op.fault_method();
    }
    std::string_view fault_statement() const noexcept requires detail::reports_fault_statement<Op> {
        return op.fault_statement();
    }
    /// The wrapped operation's wrapper's own error for a generic injected one.
    std::error_code
    fault_error(std::error_code generic) const requires detail::translates_fault_error<Op> {
        return op.fault_error(generic);
    }

    /// Starts one attempt of the call: the wrapped operation.
    template <class Attempt, class Token>
    auto operator()(const Attempt& attempt, Token&& token) {
        return op(attempt, std::forward<Token>(token));
    }
};

template <class Op, class Fallback>
with_fallback_t<std::decay_t<Op>, std::decay_t<Fallback>>
with_fallback(Op&& op, Fallback&& fallback, fault_set on = default_fallback_on) {
    return {std::forward<Op>(op), std::forward<Fallback>(fallback), on};
}

namespace detail {
/// Whether Op is a with_fallback_t (the trait lives in endpoint.hpp, which
/// needs it first).
template <class Op>
using is_with_fallback = is_fallback_op<Op>;
} // namespace detail

} // namespace keel
