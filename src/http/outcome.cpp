#include "outcome.hpp"

#include <keel/error.hpp>
#include <keel/http/error.hpp>

namespace keel::http::detail {

std::error_code error_of(const transfer_facts& facts, bool may_have_reached) {
    switch (facts.result) {
    case CURLE_OK:
        return {};
    case CURLE_OPERATION_TIMEDOUT:
        // Before the request left, with a connect deadline sooner than the
        // exchange one: the connect deadline expired.
        if (!may_have_reached && facts.connect_timeout &&
            (!facts.total_timeout || *facts.connect_timeout < *facts.total_timeout))
            return keel::errc::connect_timeout;
        return keel::errc::exchange_timeout;
    case CURLE_SEND_FAIL_REWIND:
        // keel refused curl's own resend of a non-idempotent request: the
        // reused connection died after it was sent, before a response.
        if (facts.rewind_refused)
            return make_error_code(std::errc::connection_reset);
        return std::error_code(static_cast<int>(facts.result), curl_category());
    default:
        // The system's own error (ECONNREFUSED, ECONNRESET) when curl kept
        // it: portable, and keel classifies it.
        if (keeps_os_errno(facts.result) && facts.os_errno != 0)
            return std::error_code(static_cast<int>(facts.os_errno), std::generic_category());
        return std::error_code(static_cast<int>(facts.result), curl_category());
    }
}

transfer_outcome outcome_of(const transfer_facts& facts) {
    transfer_outcome out;
    out.error = facts.forced;
    if (!facts.read)
        return out;
    out.may_have_reached = facts.status > 0 || facts.request_size > 0 || facts.pretransfer_us > 0;
    if (!out.error)
        out.error = error_of(facts, out.may_have_reached);
    if (!out.error && facts.status >= 400)
        out.error = make_status_error(facts.status);
    if (advises_delay(facts.status) && facts.retry_after_s > 0)
        out.retry_after = std::chrono::seconds(facts.retry_after_s);
    return out;
}

} // namespace keel::http::detail
