// What a finished transfer means (src/http/outcome.hpp), decided from the
// facts curl reports: no curl handle, no server.
#include <keel/attempt_feedback.hpp>
#include <keel/error.hpp>
#include <keel/http/error.hpp>

#include "outcome.hpp"
#include <asio/error.hpp>
#include <gtest/gtest.h>

#include <cerrno>

namespace keel::http::detail {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

transfer_facts finished(CURLcode result, int status = 0) {
    transfer_facts facts;
    facts.read = true;
    facts.result = result;
    facts.status = status;
    return facts;
}

TEST(http_outcome, a_successful_response_is_no_error_and_reached_the_server) {
    const transfer_outcome out = outcome_of(finished(CURLE_OK, 200));
    EXPECT_FALSE(out.error);
    EXPECT_TRUE(out.may_have_reached);
    EXPECT_FALSE(out.retry_after);
}

TEST(http_outcome, an_error_status_becomes_the_status_error) {
    const transfer_outcome out = outcome_of(finished(CURLE_OK, 404));
    EXPECT_EQ(out.error, make_status_error(404));
    EXPECT_EQ(out.error.category(), status_category());
    EXPECT_TRUE(out.may_have_reached);
}

TEST(http_outcome, a_forced_error_wins_over_what_curl_says) {
    transfer_facts facts = finished(CURLE_OPERATION_TIMEDOUT, 503);
    facts.forced = asio::error::operation_aborted;
    EXPECT_EQ(outcome_of(facts).error, asio::error::operation_aborted);
}

TEST(http_outcome, a_transfer_ended_before_setup_never_reached_the_server) {
    transfer_facts facts;
    facts.forced = make_error_code(std::errc::not_enough_memory);
    const transfer_outcome out = outcome_of(facts);
    EXPECT_EQ(out.error, std::errc::not_enough_memory);
    EXPECT_FALSE(out.may_have_reached);
}

TEST(http_outcome, without_a_response_any_progress_says_the_request_may_have_reached) {
    EXPECT_FALSE(outcome_of(finished(CURLE_RECV_ERROR)).may_have_reached);
    transfer_facts sent = finished(CURLE_RECV_ERROR);
    sent.request_size = 120;
    EXPECT_TRUE(outcome_of(sent).may_have_reached);
    transfer_facts sending = finished(CURLE_RECV_ERROR);
    sending.pretransfer_us = 350;
    EXPECT_TRUE(outcome_of(sending).may_have_reached);
}

TEST(http_outcome, only_a_response_without_status_asks_for_progress) {
    EXPECT_TRUE(reads_progress(0));
    EXPECT_FALSE(reads_progress(200));
    EXPECT_FALSE(reads_progress(503));
}

TEST(http_outcome, a_timeout_before_sending_with_the_sooner_connect_deadline_is_a_connect_timeout) {
    transfer_facts facts = finished(CURLE_OPERATION_TIMEDOUT);
    facts.connect_timeout = milliseconds(100);
    facts.total_timeout = milliseconds(500);
    EXPECT_EQ(outcome_of(facts).error, keel::errc::connect_timeout);

    facts.total_timeout.reset(); // no exchange deadline at all
    EXPECT_EQ(outcome_of(facts).error, keel::errc::connect_timeout);
}

TEST(http_outcome, other_timeouts_are_exchange_timeouts) {
    transfer_facts after_sending = finished(CURLE_OPERATION_TIMEDOUT);
    after_sending.connect_timeout = milliseconds(100);
    after_sending.total_timeout = milliseconds(500);
    after_sending.request_size = 80;
    EXPECT_EQ(outcome_of(after_sending).error, keel::errc::exchange_timeout);

    transfer_facts total_sooner = finished(CURLE_OPERATION_TIMEDOUT);
    total_sooner.connect_timeout = milliseconds(500);
    total_sooner.total_timeout = milliseconds(500);
    EXPECT_EQ(outcome_of(total_sooner).error, keel::errc::exchange_timeout);

    EXPECT_EQ(outcome_of(finished(CURLE_OPERATION_TIMEDOUT)).error, keel::errc::exchange_timeout);
}

TEST(http_outcome, connection_failures_carry_the_system_error_curl_kept) {
    transfer_facts refused = finished(CURLE_COULDNT_CONNECT);
    refused.os_errno = ECONNREFUSED;
    EXPECT_EQ(outcome_of(refused).error, std::error_code(ECONNREFUSED, std::generic_category()));

    transfer_facts reset = finished(CURLE_RECV_ERROR);
    reset.os_errno = ECONNRESET;
    EXPECT_EQ(outcome_of(reset).error, std::error_code(ECONNRESET, std::generic_category()));

    EXPECT_EQ(outcome_of(finished(CURLE_SEND_ERROR)).error,
              std::error_code(CURLE_SEND_ERROR, curl_category()));
}

TEST(http_outcome, other_curl_errors_stay_curl_errors_whatever_the_system_said) {
    transfer_facts unresolved = finished(CURLE_COULDNT_RESOLVE_HOST);
    unresolved.os_errno = ENOENT;
    EXPECT_EQ(outcome_of(unresolved).error,
              std::error_code(CURLE_COULDNT_RESOLVE_HOST, curl_category()));
    EXPECT_TRUE(keeps_os_errno(CURLE_COULDNT_CONNECT));
    EXPECT_FALSE(keeps_os_errno(CURLE_COULDNT_RESOLVE_HOST));
}

TEST(http_outcome, a_refused_resend_is_a_connection_reset) {
    transfer_facts refused = finished(CURLE_SEND_FAIL_REWIND);
    refused.rewind_refused = true;
    EXPECT_EQ(outcome_of(refused).error, std::errc::connection_reset);
    EXPECT_EQ(outcome_of(finished(CURLE_SEND_FAIL_REWIND)).error,
              std::error_code(CURLE_SEND_FAIL_REWIND, curl_category()));
}

TEST(http_outcome, retry_after_is_followed_on_too_many_requests_and_unavailable_only) {
    for (int status : {429, 503}) {
        transfer_facts facts = finished(CURLE_OK, status);
        facts.retry_after_s = 2;
        EXPECT_EQ(outcome_of(facts).retry_after, seconds(2)) << status;
        EXPECT_TRUE(advises_delay(status));
    }
    transfer_facts other = finished(CURLE_OK, 500);
    other.retry_after_s = 2;
    EXPECT_FALSE(outcome_of(other).retry_after);
    EXPECT_FALSE(advises_delay(500));

    transfer_facts none = finished(CURLE_OK, 503);
    EXPECT_FALSE(outcome_of(none).retry_after);
}

TEST(http_outcome, a_failed_request_that_reached_the_server_is_repeated_only_when_idempotent) {
    const transfer_outcome out = outcome_of(finished(CURLE_OK, 500));
    ASSERT_TRUE(out.error);
    EXPECT_TRUE(must_not_repeat(
        {.may_have_reached = out.may_have_reached, .verdict_unknown = true, .idempotent = false}));
    const transfer_outcome unsent = outcome_of(finished(CURLE_COULDNT_CONNECT));
    EXPECT_FALSE(must_not_repeat({.may_have_reached = unsent.may_have_reached,
                                  .verdict_unknown = true,
                                  .idempotent = false}));
}

} // namespace
} // namespace keel::http::detail
