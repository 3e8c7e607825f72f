// keel::kafka's error codes without a broker: librdkafka's codes are
// classified as the pipeline needs them, fatal ones are told apart, and the
// generic injected errors become what a produce sees.
#include <keel/error.hpp>
#include <keel/fault.hpp>
#include <keel/fault_injection.hpp>
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

TEST(kafka_errors, a_refused_or_reset_broker_is_the_delivery_timeout_a_produce_sees) {
    // librdkafka reconnects on its own; a produce learns of an unreachable
    // broker only as _MSG_TIMED_OUT.
    std::string why;
    const auto refused = keel::fault_error_from_name("connection_refused", why);
    const auto reset = keel::fault_error_from_name("connection_reset", why);
    ASSERT_TRUE(refused && reset) << why;
    const std::error_code timed_out = kk::make_error_code(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT);
    EXPECT_EQ(kk::fault_error(*refused), timed_out);
    EXPECT_EQ(kk::fault_error(*reset), timed_out);
    EXPECT_EQ(keel::classify(kk::fault_error(*refused)), keel::fault_class::timeout);
    const std::error_code leader = kk::make_error_code(RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION);
    EXPECT_EQ(kk::fault_error(leader), leader);
}

} // namespace
