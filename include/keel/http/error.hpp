// keel::http errors: HTTP statuses and libcurl failures as std::error_codes,
// each category stating the fault class of its codes (keel::classify).
#pragma once

#include <system_error>

namespace keel::http {

/// Error codes whose value is an HTTP status (>= 400), e.g. 503. A
/// keel::classified_category: 429 and 503 throttled; 500, 502 and 504
/// transient; any other permanent.
const std::error_category& status_category() noexcept;
std::error_code make_status_error(int status) noexcept;

/// libcurl failures that no portable code describes (the value is the
/// CURLcode), e.g. 52 "Server returned nothing (no headers, no data)".
/// A keel::classified_category: an empty reply, a partial body, a failed
/// connect or DNS lookup and send/receive failures transient; TLS and
/// protocol errors permanent.
/// Refused and reset connections are reported as the system's
/// ECONNREFUSED/ECONNRESET instead, and curl's timeouts as
/// keel::errc::connect_timeout / exchange_timeout.
const std::error_category& curl_category() noexcept;

/// Registers the `http_<...>` names of fault rules and keel-sim scenarios
/// (http_503: the status error a real 503 completes with) with keel::fault_error_from_name. Done
/// when this library's errors are linked in; calling it again is harmless.
void register_fault_errors();

} // namespace keel::http
