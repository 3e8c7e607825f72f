// keel::kafka::producer against librdkafka's mock cluster.
#include <keel/kafka/producer.hpp>
#include <keel/pipeline.hpp>

#include "support/mock_cluster.hpp"
#include "support/run.hpp"
#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/io_context.hpp>
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <optional>
#include <set>
#include <string>

namespace {

namespace kk = keel::kafka;
using kk::testing::mock_cluster;
using kk::testing::read_topic;
using kk::testing::run_until;

constexpr std::int16_t produce_api = 0;

kk::producer_options options_for(const mock_cluster& cluster, kk::property_list extra = {}) {
    kk::producer_options o;
    o.bootstrap_servers = cluster.bootstrap();
    o.properties = {{"linger.ms", "1"},
                    {"reconnect.backoff.ms", "10"},
                    {"reconnect.backoff.max.ms", "100"},
                    {"retry.backoff.ms", "10"},
                    {"log_level", "2"}};
    for (auto& p : extra)
        o.properties.push_back(p);
    return o;
}

struct outcome {
    std::optional<std::error_code> ec;
    kk::delivery where;
};

auto record(outcome& out) {
    return [&out](std::error_code ec, kk::delivery d) {
        out.ec = ec;
        out.where = d;
    };
}

TEST(KafkaProducer, DeliversWithPartitionAndOffsetAndKcatLikeReaderSeesIt) {
    mock_cluster cluster;
    cluster.create_topic("orders", 1);
    asio::io_context context;
    kk::producer producer(context.get_executor(), options_for(cluster));
    std::vector<outcome> results(5);
    for (int i = 0; i < 5; ++i)
        producer.async_produce("orders", "key-" + std::to_string(i), "value-" + std::to_string(i),
                               kk::header_list{{"event-id", std::to_string(i)}},
                               record(results[i]));
    // Never completes inside the initiating function.
    for (auto& r : results)
        EXPECT_FALSE(r.ec.has_value());
    ASSERT_TRUE(run_until(context, [&] { return results[4].ec.has_value(); }));
    for (int i = 0; i < 5; ++i) {
        ASSERT_TRUE(results[i].ec.has_value());
        EXPECT_FALSE(*results[i].ec) << results[i].ec->message();
        EXPECT_EQ(results[i].where.partition, 0);
        EXPECT_EQ(results[i].where.offset, i);
    }
    const auto read = read_topic(cluster.bootstrap(), "orders");
    ASSERT_EQ(read.size(), 5u);
    for (int i = 0; i < 5; ++i) {
        EXPECT_EQ(read[i].key, "key-" + std::to_string(i));
        EXPECT_EQ(read[i].value, "value-" + std::to_string(i));
        ASSERT_EQ(read[i].headers.size(), 1u);
        EXPECT_EQ(read[i].headers[0].second, std::to_string(i));
    }
}

} // namespace
