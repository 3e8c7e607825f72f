// keel::pg's error codes without a server: SQLSTATEs and the pool's own
// errors are classified as the pipeline needs them, and the generic injected
// errors become keel::pg's own.
#include <keel/error.hpp>
#include <keel/fault.hpp>
#include <keel/fault_injection.hpp>
#include <keel/pg/error.hpp>

#include <gtest/gtest.h>

#include <cerrno>
#include <string>

namespace {

namespace pg = keel::pg;

TEST(pg_errors, sqlstates_are_classified_as_the_issue_says) {
    for (const char* transient :
         {"40001", "40P01", "57P01", "57P02", "57P03", "53300", "55P03", "08006"})
        EXPECT_EQ(keel::classify(pg::sqlstate(transient)), keel::fault_class::transient)
            << transient;
    EXPECT_EQ(keel::classify(pg::sqlstate("57014")), keel::fault_class::timeout);
    for (const char* permanent : {"23505", "23503", "42601", "42P01", "22012", "40002"})
        EXPECT_EQ(keel::classify(pg::sqlstate(permanent)), keel::fault_class::permanent)
            << permanent;
    EXPECT_EQ(keel::classify(pg::errc::connection_lost), keel::fault_class::transient);
    EXPECT_EQ(keel::classify(pg::errc::commit_outcome_unknown), keel::fault_class::permanent);
    EXPECT_EQ(keel::classify(pg::errc::pool_exhausted), keel::fault_class::timeout);
    EXPECT_TRUE(make_error_code(pg::errc::pool_exhausted) == keel::condition::timeout);
    EXPECT_EQ(pg::sqlstate_text(pg::sqlstate("40P01")), "40P01");
    EXPECT_EQ(pg::sqlstate("40001").message(), "SQLSTATE 40001 serialization_failure");
}

TEST(pg_errors, generic_injected_errors_are_what_a_real_failure_gives) {
    // A refused connect carries no SQLSTATE (connect_failed); a connection
    // broken under a statement makes PQconsumeInput fail (connection_lost).
    std::string why;
    const auto refused = keel::fault_error_from_name("connection_refused", why);
    const auto reset = keel::fault_error_from_name("connection_reset", why);
    ASSERT_TRUE(refused && reset) << why;
    EXPECT_EQ(pg::fault_error(*refused), pg::errc::connect_failed);
    EXPECT_EQ(pg::fault_error(*reset), pg::errc::connection_lost);
    // Whichever category the generic code comes in.
    EXPECT_EQ(pg::fault_error(std::error_code(ECONNREFUSED, std::system_category())),
              pg::errc::connect_failed);
    EXPECT_EQ(keel::classify(pg::fault_error(*refused)), keel::fault_class::transient);
    // A pg_ name is already keel::pg's own; anything else stays as it is.
    EXPECT_EQ(pg::fault_error(pg::sqlstate("57P03")), pg::sqlstate("57P03"));
    const std::error_code unreachable = std::make_error_code(std::errc::host_unreachable);
    EXPECT_EQ(pg::fault_error(unreachable), unreachable);
    EXPECT_EQ(pg::fault_error(std::error_code()), std::error_code());
}

} // namespace
