// keel::kafka's error codes without a broker: librdkafka's codes are
// classified as the pipeline needs them, and fatal ones are told apart.
#include <keel/error.hpp>
#include <keel/fault.hpp>
#include <keel/kafka/error.hpp>

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <string>

namespace {

namespace kk = keel::kafka;

TEST(kafka_errors, classifies_librdkafka_codes) {
    using keel::fault_class;
    EXPECT_EQ(keel::classify(kk::make_error_code(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT)),
              fault_class::timeout);
    EXPECT_EQ(keel::classify(kk::make_error_code(RD_KAFKA_RESP_ERR__TRANSPORT)),
              fault_class::transient);
    EXPECT_EQ(keel::classify(kk::make_error_code(RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION)),
              fault_class::transient);
    EXPECT_EQ(keel::classify(kk::make_error_code(RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS)),
              fault_class::transient);
    EXPECT_EQ(keel::classify(kk::make_error_code(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)),
              fault_class::permanent);
    EXPECT_EQ(keel::classify(kk::make_error_code(RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED)),
              fault_class::permanent);
    EXPECT_EQ(keel::classify(kk::make_error_code(RD_KAFKA_RESP_ERR_THROTTLING_QUOTA_EXCEEDED)),
              fault_class::throttled);
    EXPECT_EQ(keel::classify(kk::make_error_code(RD_KAFKA_RESP_ERR__FATAL)),
              fault_class::transient);
    EXPECT_TRUE(kk::is_fatal(kk::make_error_code(RD_KAFKA_RESP_ERR__FATAL)));
    EXPECT_FALSE(kk::is_fatal(kk::make_error_code(RD_KAFKA_RESP_ERR__TRANSPORT)));
    EXPECT_NE(kk::make_error_code(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)
                  .message()
                  .find("MSG_SIZE_TOO_LARGE"),
              std::string::npos);
}

} // namespace
