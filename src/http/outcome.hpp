// What a finished transfer means, decided from what curl reported about it:
// the error the caller gets (CURLcode and HTTP status -> keel's error), the
// server's Retry-After advice, and whether the request may have reached the
// server (for keel::must_not_repeat). Pure: no curl handle, no I/O, so it is
// tested without a server (tests/http/unit). Private to src/http.
#pragma once

#include <curl/curl.h>

#include <chrono>
#include <optional>
#include <system_error>

namespace keel::http::detail {

/// What curl reported about one transfer, read while its easy handle is still
/// the transfer's. Some facts cost a curl_easy_getinfo each and matter only in
/// some cases: the reader asks reads_progress(), keeps_os_errno() and
/// advises_delay() before reading them.
struct transfer_facts {
    CURLcode result = CURLE_OK;
    /// An error keel decided itself (cancellation, shutdown, a refused
    /// option): it wins over whatever curl says.
    std::error_code forced;
    /// Whether there was an easy handle to ask (none: the transfer ended
    /// before it was set up, and nothing else below was read).
    bool read = false;
    int status = 0;                ///< the response's status; 0: no response
    long request_size = 0;         ///< bytes of the request sent (if reads_progress)
    curl_off_t pretransfer_us = 0; ///< time until sending began; 0: it did not (if reads_progress)
    long os_errno = 0;             ///< the system's error curl kept (if keeps_os_errno)
    curl_off_t retry_after_s = 0;  ///< Retry-After, as curl parsed it (if advises_delay)
    bool rewind_refused = false;   ///< keel refused curl's resend of the body
    /// The transfer's own deadlines, as given to curl (none: no limit).
    std::optional<std::chrono::milliseconds> connect_timeout;
    std::optional<std::chrono::milliseconds> total_timeout;
};

/// What the transfer means for the caller and for the retry decision.
struct transfer_outcome {
    std::error_code error;
    /// The server's advised delay before another attempt.
    std::optional<std::chrono::seconds> retry_after;
    /// Some of the request may have reached the server: a response proves
    /// it, and without one, any byte sent (or the transfer getting as far
    /// as sending) says it may have.
    bool may_have_reached = false;
};

/// Whether the bytes sent and the time until sending are worth reading:
/// only without a response (a response proves the request reached).
constexpr bool reads_progress(int status) noexcept {
    return status <= 0;
}

/// Whether curl may have kept the system's own error (ECONNREFUSED,
/// ECONNRESET) for this result.
constexpr bool keeps_os_errno(CURLcode result) noexcept {
    return result == CURLE_COULDNT_CONNECT || result == CURLE_SEND_ERROR ||
           result == CURLE_RECV_ERROR;
}

/// Whether a response with this status may carry advice on when to try
/// again that keel follows (429 Too Many Requests, 503 Service Unavailable).
constexpr bool advises_delay(int status) noexcept {
    return status == 429 || status == 503;
}

/// The error of a transfer curl finished with `facts.result` (none for
/// CURLE_OK), given whether the request may have reached the server.
std::error_code error_of(const transfer_facts& facts, bool may_have_reached);

/// Everything the facts decide.
transfer_outcome outcome_of(const transfer_facts& facts);

} // namespace keel::http::detail
