// keel::pg::statement: SQL text, its parameters, whether running it twice
// (or twice at once) is harmless, and the name it goes by.
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
///   auto lookup = pg::read_only("SELECT total FROM orders WHERE id = $1", id); // hedgeable
///   auto named = pg::read_only("SELECT ...", id).named("order_total");
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
    /// The caller's word that the statement only reads: keel may then run it
    /// more than once at a time (a dependency's hedging, keel/hedging.hpp).
    /// keel does not check it: a write marked read-only and hedged is done
    /// twice. Implies idempotent (read_only() sets both).
    bool read_only = false;
    /// A short name for the statement ("order_total"): what fault rules'
    /// `statement:` selector matches (exactly), and a label that error
    /// messages and logs can show instead of the SQL. Empty: unnamed, which
    /// no `statement:` selector matches.
    std::string name;

    statement() = default;
    template <class... Args>
    explicit statement(std::string text, Args&&... args)
        : sql(std::move(text)), params{detail::to_parameter(std::forward<Args>(args))...} {}

    /// This statement, with `statement_name` as its name.
    statement& named(std::string statement_name) & {
        name = std::move(statement_name);
        return *this;
    }
    statement named(std::string statement_name) && {
        name = std::move(statement_name);
        return std::move(*this);
    }

    /// What fault rules' `statement:` selector matches: a call through
    /// pool::async_call reports it.
    friend std::string_view fault_statement_of(const statement& s) noexcept { return s.name; }
};

/// A statement marked idempotent (a read, or a write that is safe twice).
template <class... Args>
statement idempotent(std::string text, Args&&... args) {
    statement s(std::move(text), std::forward<Args>(args)...);
    s.idempotent = true;
    return s;
}

/// A statement marked read-only, and so idempotent: a pipeline with hedging
/// may run it more than once at a time.
template <class... Args>
statement read_only(std::string text, Args&&... args) {
    statement s(std::move(text), std::forward<Args>(args)...);
    s.idempotent = true;
    s.read_only = true;
    return s;
}

/// Whether keel may run `s` more than once at a time (hedging): only a
/// statement marked read-only. An idempotent write is not: two runs at once
/// may block each other on its rows, or both fail where one alone succeeds.
inline bool may_hedge(const statement& s) noexcept {
    return s.read_only;
}

} // namespace keel::pg
