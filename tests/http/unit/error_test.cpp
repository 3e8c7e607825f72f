// keel::http's error codes without a server: statuses and curl's codes are
// classified as the pipeline needs them.
#include <keel/error.hpp>
#include <keel/fault.hpp>
#include <keel/http/error.hpp>

#include <gtest/gtest.h>

namespace keel::test {
namespace {

namespace kh = keel::http;

TEST(http_classification, statuses_and_curl_errors) {
    EXPECT_EQ(classify(kh::make_status_error(429)), fault_class::throttled);
    EXPECT_EQ(classify(kh::make_status_error(503)), fault_class::throttled);
    EXPECT_EQ(classify(kh::make_status_error(500)), fault_class::transient);
    EXPECT_EQ(classify(kh::make_status_error(502)), fault_class::transient);
    EXPECT_EQ(classify(kh::make_status_error(504)), fault_class::transient);
    EXPECT_EQ(classify(kh::make_status_error(501)), fault_class::permanent);
    EXPECT_EQ(classify(kh::make_status_error(400)), fault_class::permanent);
    EXPECT_EQ(classify(kh::make_status_error(404)), fault_class::permanent);
    EXPECT_EQ(classify(std::error_code(52, kh::curl_category())), fault_class::transient);
    EXPECT_EQ(classify(std::error_code(60, kh::curl_category())), fault_class::permanent);
}

} // namespace
} // namespace keel::test
