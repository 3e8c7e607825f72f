// The C++ blocks of docs/timeouts-and-cancellation.md: each region is copied into the page by
// scripts/docs-sync; the test build compiles this file.

#include <chrono>
#include <keel/attempt.hpp>
#include <keel/error.hpp>
#include <system_error>
#include <utility>

namespace error_conditions {
// [snippet:error-conditions]
#include <keel/error.hpp>

#include <system_error>

const char* describe(const std::error_code& ec) {
    if (ec == keel::errc::deadline_exceeded) // precisely: the total deadline
        return "out of time";
    if (ec == keel::condition::timeout) // any of keel's four, or ETIMEDOUT
        return "timed out";
    if (ec == keel::condition::cancelled) // the caller cancelled
        return "cancelled";
    if (ec == keel::condition::rejected) // keel refused it locally: no attempt
        return "refused";
    return ec ? "failed" : "ok";
}
// [end]
} // namespace error_conditions

namespace retry_after {
// [snippet:retry-after]
#include <keel/attempt.hpp>

#include <chrono>
#include <system_error>
#include <utility>

// Called by an operation when the server answered "429, Retry-After: N".
template <class Handler>
void complete_throttled(const keel::attempt& attempt, std::chrono::seconds retry_after,
                        std::error_code ec, Handler&& handler) {
    attempt.feedback().retry_after(retry_after); // before completing: keel reads it then
    std::forward<Handler>(handler)(ec);
}
// [end]
} // namespace retry_after
