// keel::pg errors: SQLSTATEs and keel's own PostgreSQL failures as
// std::error_codes, each category stating the fault class of its codes
// (keel::classify).
#pragma once

#include <string>
#include <string_view>
#include <system_error>

namespace keel::pg {

/// Failures that carry no SQLSTATE.
enum class errc {
    /// The connection broke (server stopped, socket reset) before the answer
    /// arrived. Transient; a statement that may have reached the server is
    /// retried only when it is marked idempotent.
    connection_lost = 1,
    /// The connection could not be opened (refused, bad address, a startup
    /// failure without a SQLSTATE). Transient.
    connect_failed,
    /// No pooled connection became free before the attempt's connect deadline
    /// (or the call's own connect timeout). Class timeout; compares equal to
    /// keel::condition::timeout.
    pool_exhausted,
    /// The connection broke, or the call was cut short, while COMMIT was on
    /// its way: the transaction may or may not have been committed. Permanent
    /// and never retried: only the application can tell (e.g. by looking for
    /// the row it wrote).
    commit_outcome_unknown,
    /// A transaction's function threw something other than a system_error.
    /// The transaction was rolled back. Permanent.
    transaction_function_threw,
    /// The pool was destroyed with the call still waiting or running. Class
    /// cancelled; compares equal to keel::condition::cancelled.
    pool_closed,
};

/// The category of keel::pg::errc, a keel::classified_category with the
/// class each code's comment names.
const std::error_category& error_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), error_category()};
}

/// Errors whose value is a SQLSTATE (five characters of 0-9A-Z, packed in
/// base 36): `ec == keel::pg::sqlstate("40001")`. The message names the code
/// and, for the common ones, its condition (`serialization_failure`).
///
/// A keel::classified_category: 40001, 40P01, 57P01, 57P02, 57P03, 53300,
/// 55P03 and class 08 (connection exceptions) transient; 57014
/// (query_canceled: a statement_timeout or someone else's cancel) timeout;
/// 23xxx, 42xxx, every other 4xxxx and anything not listed permanent. A query that keel itself
/// cancelled (the attempt's deadline, the caller's cancellation) reports
/// keel's code, not 57014.
const std::error_category& sqlstate_category() noexcept;

/// The error code of `code` (e.g. "23505"); a malformed code gives the
/// SQLSTATE XX000 (internal_error).
std::error_code sqlstate(std::string_view code) noexcept;

/// The five characters of a sqlstate_category() error; empty for any other.
std::string sqlstate_text(const std::error_code& ec);

/// Registers the `pg_<...>` names of fault rules and keel-sim scenarios
/// (pg_40001: the SQLSTATE a real serialization failure completes with) with
/// keel::fault_error_from_name. Done when this library's errors are linked in; calling it again is
/// harmless.
void register_fault_errors();

/// What keel::pg reports for the real failure a generic injected error
/// names (keel/fault_injection.hpp): connection_refused is connect_failed
/// (libpq's refused connect carries no SQLSTATE), connection_reset is
/// connection_lost (a connection broken under a statement); any other error
/// unchanged. pool::async_call and async_transaction apply it to the faults
/// injected into their attempts.
std::error_code fault_error(std::error_code generic) noexcept;

} // namespace keel::pg

template <>
struct std::is_error_code_enum<keel::pg::errc> : std::true_type {};
