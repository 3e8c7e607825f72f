// keel::with_endpoint: names the endpoint (the peer) an operation talks to,
// so that strategies kept per endpoint (a circuit breaker with
// `scope: endpoint`) key the call by it.
#pragma once

#include <keel/idempotent.hpp>

#include <concepts>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

namespace keel {

/// An operation factory that says which endpoint its call goes to:
/// `op.endpoint()` is a string that lives as long as the operation object
/// (which pipeline::async_run keeps until the call completes). keel's
/// wrappers report one: HTTP `scheme://host:port`, PostgreSQL `host:port`.
template <class Op>
concept reports_endpoint = requires(const Op& op) {
    { op.endpoint() } -> std::convertible_to<std::string_view>;
};

/// An operation factory with the endpoint of its call. `Endpoint` owns the
/// name (std::string) or views one that outlives the call (std::string_view).
template <class Op, class Endpoint = std::string>
struct with_endpoint_t {
    // keel finds a fallback only at the outside of the operation.
    static_assert(!detail::is_fallback_op<Op>::value,
                  "keel: put with_fallback around with_endpoint, not inside: "
                  "with_fallback(with_endpoint(op, name), fallback)");
    Op op;
    Endpoint endpoint_name;

    std::string_view endpoint() const noexcept { return endpoint_name; }
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

/// `op`, reporting `endpoint` ("db1:5432", "https://api.example.com:443")
/// to the strategies kept per endpoint. Wrap the operation, then the
/// fallback around it: `with_fallback(with_endpoint(op, "db1:5432"), fb)`.
template <class Op>
with_endpoint_t<std::decay_t<Op>> with_endpoint(Op&& op, std::string endpoint) {
    return {std::forward<Op>(op), std::move(endpoint)};
}

namespace detail {
/// The endpoint `op` reports; empty when it reports none.
template <class Op>
std::string_view endpoint_of(const Op& op) noexcept {
    if constexpr (reports_endpoint<Op>)
        return op.endpoint();
    else
        return {};
}
} // namespace detail

} // namespace keel
