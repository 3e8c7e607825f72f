// The wrappers' error categories state their own fault classes: this binary
// never makes an http client, a pg pool or a kafka producer/consumer, so
// nothing could have registered a classifier on their behalf.
#include <keel/classified_category.hpp>
#include <keel/error.hpp>
#include <keel/fault.hpp>
#include <keel/http/error.hpp>
#include <keel/kafka/error.hpp>
#include <keel/pg/error.hpp>

#include <curl/curl.h>
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

namespace {

namespace http = keel::http;
namespace kafka = keel::kafka;
namespace pg = keel::pg;
using keel::classify;
using keel::fault_class;

TEST(category_classes, every_wrapper_category_is_a_classified_category) {
    for (const std::error_category* c :
         {&http::status_category(), &http::curl_category(), &pg::sqlstate_category(),
          &pg::error_category(), &kafka::kafka_category(), &keel::error_category()})
        EXPECT_NE(dynamic_cast<const keel::classified_category*>(c), nullptr) << c->name();
}

TEST(category_classes, http_statuses_without_a_client) {
    EXPECT_EQ(classify(http::make_status_error(503)), fault_class::throttled);
    EXPECT_EQ(classify(http::make_status_error(429)), fault_class::throttled);
    EXPECT_EQ(classify(http::make_status_error(500)), fault_class::transient);
    EXPECT_EQ(classify(http::make_status_error(502)), fault_class::transient);
    EXPECT_EQ(classify(http::make_status_error(404)), fault_class::permanent);
    EXPECT_EQ(classify(http::make_status_error(400)), fault_class::permanent);
}

TEST(category_classes, curl_errors_without_a_client) {
    const auto curl = [](CURLcode c) { return std::error_code(c, http::curl_category()); };
    EXPECT_EQ(classify(curl(CURLE_COULDNT_CONNECT)), fault_class::transient);
    EXPECT_EQ(classify(curl(CURLE_GOT_NOTHING)), fault_class::transient);
    EXPECT_EQ(classify(curl(CURLE_OPERATION_TIMEDOUT)), fault_class::timeout);
    EXPECT_EQ(classify(curl(CURLE_PEER_FAILED_VERIFICATION)), fault_class::permanent);
}

TEST(category_classes, sqlstates_without_a_pool) {
    EXPECT_EQ(classify(pg::sqlstate("40001")), fault_class::transient);
    EXPECT_EQ(classify(pg::sqlstate("40P01")), fault_class::transient);
    EXPECT_EQ(classify(pg::sqlstate("08006")), fault_class::transient);
    EXPECT_EQ(classify(pg::sqlstate("57014")), fault_class::timeout);
    EXPECT_EQ(classify(pg::sqlstate("23505")), fault_class::permanent);
    EXPECT_EQ(classify(pg::sqlstate("42P01")), fault_class::permanent);
}

TEST(category_classes, pg_errors_without_a_pool) {
    EXPECT_EQ(classify(pg::errc::connection_lost), fault_class::transient);
    EXPECT_EQ(classify(pg::errc::connect_failed), fault_class::transient);
    EXPECT_EQ(classify(pg::errc::pool_exhausted), fault_class::timeout);
    EXPECT_EQ(classify(pg::errc::pool_closed), fault_class::cancelled);
    EXPECT_EQ(classify(pg::errc::commit_outcome_unknown), fault_class::permanent);
}

TEST(category_classes, kafka_errors_without_a_producer_or_consumer) {
    EXPECT_EQ(classify(kafka::make_error_code(RD_KAFKA_RESP_ERR__TRANSPORT)),
              fault_class::transient);
    EXPECT_EQ(classify(kafka::make_error_code(RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION)),
              fault_class::transient);
    EXPECT_EQ(classify(kafka::make_error_code(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT)),
              fault_class::timeout);
    EXPECT_EQ(classify(kafka::make_error_code(RD_KAFKA_RESP_ERR_THROTTLING_QUOTA_EXCEEDED)),
              fault_class::throttled);
    EXPECT_EQ(classify(kafka::make_error_code(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)),
              fault_class::permanent);
}

TEST(category_classes, keels_own_codes) {
    EXPECT_EQ(classify(keel::errc::exchange_timeout), fault_class::timeout);
    EXPECT_EQ(classify(keel::errc::bulkhead_full), fault_class::rejected);
}

TEST(category_classes, a_user_override_wins_and_unregistering_restores_the_category) {
    // An application that treats 404 as "not there yet" (eventual consistency).
    keel::register_classifier(http::status_category(),
                              [](const std::error_code& ec, fault_class& out) {
                                  if (ec.value() == 404) {
                                      out = fault_class::transient;
                                      return true;
                                  }
                                  return false; // the category's own answer
                              });
    EXPECT_EQ(classify(http::make_status_error(404)), fault_class::transient);
    EXPECT_EQ(classify(http::make_status_error(503)), fault_class::throttled);
    EXPECT_EQ(classify(http::make_status_error(400)), fault_class::permanent);
    // Other categories are untouched.
    EXPECT_EQ(classify(pg::sqlstate("23505")), fault_class::permanent);

    keel::unregister_classifier(http::status_category());
    EXPECT_EQ(classify(http::make_status_error(404)), fault_class::permanent);
    EXPECT_EQ(classify(http::make_status_error(503)), fault_class::throttled);
}

TEST(category_classes, an_override_can_answer_every_code) {
    keel::register_classifier(
        pg::sqlstate_category(), [](const std::error_code&, fault_class& out) {
            out = fault_class::permanent; // e.g. never retry inside this service's transactions
            return true;
        });
    EXPECT_EQ(classify(pg::sqlstate("40001")), fault_class::permanent);
    keel::unregister_classifier(pg::sqlstate_category());
    EXPECT_EQ(classify(pg::sqlstate("40001")), fault_class::transient);
}

} // namespace
