// keel::idempotent: says that an operation may run more than once at a time,
// so a dependency's hedging (parallel attempts) may start a second attempt
// while the first is still running. An operation that says nothing runs one
// attempt at a time: keel cannot know whether doing it twice is harmless.
#pragma once

#include <keel/detail/fault_selectors.hpp>

#include <concepts>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

namespace keel {

template <class Op, class Fallback>
struct with_fallback_t;

namespace detail {
/// Whether Op is a with_fallback_t (keel finds a fallback only at the
/// outside of the operation, so the other wrappers refuse to hold one).
template <class Op>
struct is_fallback_op : std::false_type {};
template <class Op, class Fallback>
struct is_fallback_op<with_fallback_t<Op, Fallback>> : std::true_type {};
} // namespace detail

/// An operation factory that says whether its call may be hedged:
/// `op.idempotent()` is true when two attempts of it may run together with
/// no effect beyond one (a read; a write with an idempotency key). keel's
/// wrappers say it: HTTP GET, HEAD, OPTIONS, PUT, DELETE or a request with an
/// Idempotency-Key header; a PostgreSQL statement marked read-only; never a
/// Kafka produce or a transaction.
template <class Op>
concept declares_idempotence = requires(const Op& op) {
    { op.idempotent() } -> std::convertible_to<bool>;
};

/// An operation factory marked idempotent, for a dependency with `hedge:`.
template <class Op>
struct idempotent_t {
    static_assert(!detail::is_fallback_op<Op>::value,
                  "keel: put with_fallback around idempotent, not inside: "
                  "with_fallback(idempotent(op), fallback)");
    Op op;

    static constexpr bool idempotent() noexcept { return true; }

    /// The wrapped operation's endpoint, when it reports one (with_endpoint).
    auto endpoint() const noexcept(noexcept(op.endpoint())) requires requires(const Op& o) {
        o.endpoint();
    }
    { return op.endpoint(); }
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

/// `op`, marked as safe to run more than once at a time: a dependency with
/// `hedge:` may then start parallel attempts of it. Mark only what is: a
/// hedged write that is not idempotent is done twice.
template <class Op>
idempotent_t<std::decay_t<Op>> idempotent(Op&& op) {
    return {std::forward<Op>(op)};
}

namespace detail {
/// Whether `op`'s call may be hedged; false when it does not say.
template <class Op>
bool is_idempotent(const Op& op) noexcept {
    if constexpr (declares_idempotence<Op>)
        return static_cast<bool>(op.idempotent());
    else
        return false;
}
} // namespace detail

} // namespace keel
