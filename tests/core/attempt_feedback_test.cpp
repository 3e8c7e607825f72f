// The rule every wrapper applies to a failed attempt: a request that may have
// been applied and is not idempotent is not repeated.
#include <keel/attempt_feedback.hpp>

#include <gtest/gtest.h>

namespace keel {
namespace {

TEST(must_not_repeat, a_request_that_may_have_been_applied_and_is_not_idempotent) {
    EXPECT_TRUE(must_not_repeat({.may_have_reached = true, .verdict_unknown = true}));
}

TEST(must_not_repeat, an_idempotent_request_may_always_be_repeated) {
    EXPECT_FALSE(
        must_not_repeat({.may_have_reached = true, .verdict_unknown = true, .idempotent = true}));
}

TEST(must_not_repeat, a_request_that_never_reached_the_server_may_be_repeated) {
    EXPECT_FALSE(must_not_repeat({.may_have_reached = false, .verdict_unknown = true}));
}

TEST(must_not_repeat, a_failure_with_a_known_verdict_may_be_repeated) {
    // The server said it did not apply it (a refused statement, a cancel).
    EXPECT_FALSE(must_not_repeat({.may_have_reached = true, .verdict_unknown = false}));
}

TEST(must_not_repeat, is_decided_at_compile_time) {
    static_assert(must_not_repeat({.may_have_reached = true, .verdict_unknown = true}));
    static_assert(!must_not_repeat({}));
}

TEST(attempt_feedback, outcome_unknown_if_forbids_the_retry_only_when_the_rule_says_so) {
    attempt_feedback safe;
    safe.outcome_unknown_if(
        {.may_have_reached = true, .verdict_unknown = true, .idempotent = true});
    EXPECT_FALSE(safe.is_outcome_unknown());
    EXPECT_FALSE(safe.retry_forbidden());

    attempt_feedback unsafe;
    unsafe.outcome_unknown_if({.may_have_reached = true, .verdict_unknown = true});
    EXPECT_TRUE(unsafe.is_outcome_unknown());
    EXPECT_TRUE(unsafe.retry_forbidden());

    unsafe.reset();
    EXPECT_FALSE(unsafe.is_outcome_unknown());
}

} // namespace
} // namespace keel
