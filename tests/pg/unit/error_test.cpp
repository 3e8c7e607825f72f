// keel::pg's error codes without a server: SQLSTATEs and the pool's own
// errors are classified as the pipeline needs them.
#include <keel/error.hpp>
#include <keel/fault.hpp>
#include <keel/pg/error.hpp>

#include <gtest/gtest.h>

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

} // namespace
