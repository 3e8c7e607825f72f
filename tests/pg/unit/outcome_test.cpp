// What a statement's end means (src/pg/outcome.hpp): its error and whether
// the server's verdict is unknown. No connection, no server.
#include <keel/attempt_feedback.hpp>
#include <keel/error.hpp>
#include <keel/pg/error.hpp>

#include "outcome.hpp"
#include <asio/error.hpp>
#include <gtest/gtest.h>

namespace keel::pg::detail {
namespace {

TEST(pg_outcome, a_succeeded_statement_is_no_error) {
    EXPECT_FALSE(statement_error(true, nullptr));
    EXPECT_FALSE(statement_error(true, "23505"));
}

TEST(pg_outcome, a_failed_statement_carries_its_sqlstate) {
    const std::error_code ec = statement_error(false, "23505");
    EXPECT_EQ(ec, sqlstate("23505"));
    EXPECT_EQ(ec.category(), sqlstate_category());
}

TEST(pg_outcome, a_failure_without_sqlstate_is_a_lost_connection) {
    EXPECT_EQ(statement_error(false, nullptr), errc::connection_lost);
}

TEST(pg_outcome, the_sqlstate_of_a_startup_failure_is_found_in_its_message) {
    EXPECT_EQ(sqlstate_in_message("connection to server failed: FATAL:  53300: sorry, too many "
                                  "clients already"),
              sqlstate("53300"));
    EXPECT_EQ(sqlstate_in_message("ERROR:  3D000: database \"nope\" does not exist"),
              sqlstate("3D000"));
    // The second FATAL carries it: the first is not followed by a code.
    EXPECT_EQ(sqlstate_in_message("FATAL:  no code here\nFATAL:  28P01: password authentication"),
              sqlstate("28P01"));
}

TEST(pg_outcome, a_message_without_sqlstate_gives_none) {
    EXPECT_FALSE(sqlstate_in_message(""));
    EXPECT_FALSE(sqlstate_in_message("could not connect to server: Connection refused"));
    EXPECT_FALSE(sqlstate_in_message("FATAL:  53300"));        // no colon after the code
    EXPECT_FALSE(sqlstate_in_message("FATAL:  5330a: lower")); // not a SQLSTATE's characters
}

TEST(pg_outcome, no_error_is_a_known_verdict) {
    EXPECT_FALSE(outcome_unknown({}));
}

TEST(pg_outcome, a_lost_connection_or_any_failure_without_sqlstate_leaves_the_verdict_unknown) {
    EXPECT_TRUE(outcome_unknown(make_error_code(errc::connection_lost)));
    EXPECT_TRUE(outcome_unknown(make_error_code(keel::errc::exchange_timeout)));
    EXPECT_TRUE(outcome_unknown(asio::error::operation_aborted));
}

TEST(pg_outcome, sqlstates_raised_around_the_commit_leave_the_verdict_unknown) {
    for (const char* code : {"08006", "08003", "57P01", "57P02", "58030", "XX000", "XX001"})
        EXPECT_TRUE(outcome_unknown(sqlstate(code))) << code;
}

TEST(pg_outcome, the_servers_own_refusals_and_a_cancel_are_verdicts) {
    for (const char* code : {"57014", "23505", "40001", "40P01", "42601", "53300"})
        EXPECT_FALSE(outcome_unknown(sqlstate(code))) << code;
}

TEST(pg_outcome, a_statement_sent_when_the_connection_broke_is_repeated_only_when_idempotent) {
    const std::error_code lost = statement_error(false, nullptr);
    EXPECT_TRUE(must_not_repeat(
        {.may_have_reached = true, .verdict_unknown = outcome_unknown(lost), .idempotent = false}));
    EXPECT_FALSE(must_not_repeat(
        {.may_have_reached = true, .verdict_unknown = outcome_unknown(lost), .idempotent = true}));
    EXPECT_FALSE(must_not_repeat({.may_have_reached = false,
                                  .verdict_unknown = outcome_unknown(lost),
                                  .idempotent = false}));
    // A serialization failure is the server's verdict: retried.
    EXPECT_FALSE(must_not_repeat({.may_have_reached = true,
                                  .verdict_unknown = outcome_unknown(sqlstate("40001")),
                                  .idempotent = false}));
}

} // namespace
} // namespace keel::pg::detail
