// The rule every wrapper applies to a failed attempt: a request that may have
// been applied and is not idempotent is not repeated.
#include <keel/attempt_feedback.hpp>

#include <gtest/gtest.h>

namespace keel {
namespace {

TEST(MustNotRepeat, ARequestThatMayHaveBeenAppliedAndIsNotIdempotent) {
    EXPECT_TRUE(must_not_repeat({.may_have_reached = true, .verdict_unknown = true}));
}

TEST(MustNotRepeat, AnIdempotentRequestMayAlwaysBeRepeated) {
    EXPECT_FALSE(
        must_not_repeat({.may_have_reached = true, .verdict_unknown = true, .idempotent = true}));
}

TEST(MustNotRepeat, ARequestThatNeverReachedTheServerMayBeRepeated) {
    EXPECT_FALSE(must_not_repeat({.may_have_reached = false, .verdict_unknown = true}));
}

TEST(MustNotRepeat, AFailureWithAKnownVerdictMayBeRepeated) {
    // The server said it did not apply it (a refused statement, a cancel).
    EXPECT_FALSE(must_not_repeat({.may_have_reached = true, .verdict_unknown = false}));
}

TEST(MustNotRepeat, IsDecidedAtCompileTime) {
    static_assert(must_not_repeat({.may_have_reached = true, .verdict_unknown = true}));
    static_assert(!must_not_repeat({}));
}

TEST(AttemptFeedback, OutcomeUnknownIfForbidsTheRetryOnlyWhenTheRuleSaysSo) {
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
