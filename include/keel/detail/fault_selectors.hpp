// What an operation may say about itself for fault rules' `method:` and
// `statement:` selectors, and how it turns a generic injected error into its
// wrapper's own (keel/fault_injection.hpp), kept apart from the rules so that
// the operation wrappers (keel::idempotent, with_endpoint, with_fallback) can
// forward them without including the fault engine.
#pragma once

#include <concepts>
#include <string_view>
#include <system_error>

namespace keel::detail {

/// `op.fault_method()`: the HTTP method of the call ("POST"), a view of
/// data the operation holds for the whole call.
template <class Op>
concept reports_fault_method = requires(const Op& op) {
    { op.fault_method() } -> std::convertible_to<std::string_view>;
};

/// `op.fault_statement()`: the name of the PostgreSQL statement the call
/// runs, a view of data the operation holds for the whole call.
template <class Op>
concept reports_fault_statement = requires(const Op& op) {
    { op.fault_statement() } -> std::convertible_to<std::string_view>;
};

/// `op.fault_error(ec)`: the error the operation's wrapper reports for a
/// real failure of the kind the generic injected `ec` names (keel::pg
/// reports a refused connection as pg::errc::connect_failed, not
/// ECONNREFUSED); any other error unchanged. Asked only when a rule
/// injects an error.
template <class Op>
concept translates_fault_error = requires(const Op& op, std::error_code ec) {
    { op.fault_error(ec) } -> std::same_as<std::error_code>;
};

/// A request type (http::request, pg::statement) that names its method or
/// statement through a friend found by argument-dependent lookup:
/// `fault_method_of(r)`, `fault_statement_of(s)`.
template <class Request>
concept names_fault_method = requires(const Request& r) {
    { fault_method_of(r) } -> std::convertible_to<std::string_view>;
};
template <class Request>
concept names_fault_statement = requires(const Request& r) {
    { fault_statement_of(r) } -> std::convertible_to<std::string_view>;
};

} // namespace keel::detail
