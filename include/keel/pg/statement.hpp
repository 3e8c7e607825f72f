// keel::pg::statement: SQL text, its parameters, and whether running it
// twice is harmless.
#pragma once

#include <concepts>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace keel::pg {

/// A parameter in libpq's text format; nullopt is SQL NULL.
using parameter = std::optional<std::string>;

namespace detail {
inline parameter to_parameter(std::nullopt_t) {
    return std::nullopt;
}
inline parameter to_parameter(std::string s) {
    return parameter(std::move(s));
}
inline parameter to_parameter(std::string_view s) {
    return parameter(std::string(s));
}
inline parameter to_parameter(const char* s) {
    return parameter(std::string(s));
}
inline parameter to_parameter(bool b) {
    return parameter(b ? "t" : "f");
}
template <class T>
requires(std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) parameter to_parameter(T v) {
    return parameter(std::to_string(v));
}
template <class T>
parameter to_parameter(const std::optional<T>& v) {
    return v ? to_parameter(*v) : std::nullopt;
}
} // namespace detail

/// One SQL statement with positional parameters ($1, $2, ...):
///
///   pg::statement insert("INSERT INTO orders(id, total) VALUES ($1, $2)", id, 12.5);
///   insert.idempotent = true;  // "ON CONFLICT DO NOTHING", a unique key: safe twice
struct statement {
    std::string sql;
    std::vector<parameter> params;
    /// Whether keel may run it again after it may have reached the server
    /// (the connection broke or the attempt was cut short after sending:
    /// the server may have executed it). A failure the server reported (a
    /// SQLSTATE) is definite -- the statement had no effect -- and is retried
    /// by its fault class either way. Reads are idempotent; writes are when
    /// a unique key or ON CONFLICT makes the second run a no-op.
    bool idempotent = false;

    statement() = default;
    template <class... Args>
    explicit statement(std::string text, Args&&... args)
        : sql(std::move(text)), params{detail::to_parameter(std::forward<Args>(args))...} {}
};

/// A statement marked idempotent (a read, or a write that is safe twice).
template <class... Args>
statement idempotent(std::string text, Args&&... args) {
    statement s(std::move(text), std::forward<Args>(args)...);
    s.idempotent = true;
    return s;
}

} // namespace keel::pg
