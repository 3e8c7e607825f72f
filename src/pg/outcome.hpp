// What a statement's end means, decided from what libpq reported: its error
// (SQLSTATE or a lost connection), and whether the server's verdict is
// unknown (a lost COMMIT). Pure: no connection, no libpq types, so it is
// tested without a server (tests/pg/unit). Private to src/pg.
#pragma once

#include <string_view>
#include <system_error>

namespace keel::pg::detail {

/// The error of a finished statement: none when it `succeeded`, else its
/// `sqlstate`, else (no SQLSTATE: libpq's own failure, which in practice is
/// the connection) connection_lost.
std::error_code statement_error(bool succeeded, const char* sqlstate);

/// A startup failure carries no result to ask for its SQLSTATE: with
/// PQERRORS_VERBOSE libpq writes it into the message ("FATAL:  53300: sorry,
/// too many clients already"), and this finds it (none if it is not there).
std::error_code sqlstate_in_message(std::string_view message);

/// Whether a failure leaves the server's verdict unknown: no SQLSTATE (the
/// connection broke, keel gave up waiting), or one of the classes raised
/// around the commit itself (08 connection, 57 operator intervention such as
/// 57P01 admin_shutdown, 58 system, XX internal). A statement that failed
/// so may still have been applied. 57014 query_canceled is a verdict: the
/// statement was stopped, not applied.
bool outcome_unknown(const std::error_code& ec) noexcept;

} // namespace keel::pg::detail
