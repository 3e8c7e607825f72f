// keel::kafka::consumer against librdkafka's mock cluster (the processor:
// processor_test.cpp).
#include <keel/kafka/consumer.hpp>
#include <keel/kafka/processor.hpp>
#include <keel/kafka/producer.hpp>
#include <keel/pipeline.hpp>

#include "harness/kafka/mock_cluster.hpp"
#include "support/clients.hpp"
#include "support/run.hpp"
#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/io_context.hpp>
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <map>
#include <optional>
#include <set>
#include <string>

namespace {

namespace kk = keel::kafka;
using kk::testing::consumer_for;
using kk::testing::mock_cluster;
using kk::testing::produce_all;
using kk::testing::producer_for;
using kk::testing::read_topic;
using kk::testing::run_until;

// Received in order; what was committed is not received again by the
// group, what was not committed is (at-least-once).
TEST(kafka_consumer, receives_and_resumes_after_the_last_commit) {
    mock_cluster cluster;
    cluster.create_topic("orders", 1);
    asio::io_context context;
    kk::producer producer(context.get_executor(), producer_for(cluster));
    produce_all(context, producer, "orders", 5);
    {
        kk::consumer consumer(context.get_executor(), consumer_for(cluster, "billing"));
        consumer.subscribe({"orders"});
        std::vector<kk::message> got;
        std::function<void()> next = [&] {
            consumer.async_receive([&](std::error_code ec, kk::message m) {
                ASSERT_FALSE(ec) << ec.message();
                got.push_back(std::move(m));
                if (got.size() < 5)
                    next();
            });
        };
        next();
        ASSERT_TRUE(run_until(context, [&] { return got.size() == 5; }));
        for (int i = 0; i < 5; ++i) {
            EXPECT_EQ(got[i].value, "event-" + std::to_string(i));
            EXPECT_EQ(got[i].key, "key-" + std::to_string(i));
            EXPECT_EQ(got[i].offset, i);
            EXPECT_EQ(got[i].topic, "orders");
        }
        std::optional<std::error_code> committed, closed;
        consumer.async_commit(got[2], [&](std::error_code ec) { committed = ec; });
        ASSERT_TRUE(run_until(context, [&] { return committed.has_value(); }));
        EXPECT_FALSE(*committed) << committed->message();
        consumer.async_close([&](std::error_code ec) { closed = ec; });
        ASSERT_TRUE(run_until(context, [&] { return closed.has_value(); }));
    }
    kk::consumer again(context.get_executor(), consumer_for(cluster, "billing"));
    again.subscribe({"orders"});
    std::optional<kk::message> first;
    again.async_receive([&](std::error_code ec, kk::message m) {
        ASSERT_FALSE(ec) << ec.message();
        first = std::move(m);
    });
    ASSERT_TRUE(run_until(context, [&] { return first.has_value(); }));
    EXPECT_EQ(first->offset, 3);
    EXPECT_EQ(first->value, "event-3");
}

TEST(kafka_consumer, cancelled_receive_loses_no_message) {
    mock_cluster cluster;
    cluster.create_topic("orders", 1);
    asio::io_context context;
    kk::consumer consumer(context.get_executor(), consumer_for(cluster, "g"));
    consumer.subscribe({"orders"});
    asio::cancellation_signal cancel;
    std::optional<std::error_code> cancelled;
    consumer.async_receive(asio::bind_cancellation_slot(
        cancel.slot(), [&](std::error_code ec, kk::message) { cancelled = ec; }));
    cancel.emit(asio::cancellation_type::terminal);
    ASSERT_TRUE(run_until(context, [&] { return cancelled.has_value(); }));
    EXPECT_EQ(*cancelled, asio::error::operation_aborted);
    kk::producer producer(context.get_executor(), producer_for(cluster));
    produce_all(context, producer, "orders", 1);
    std::optional<kk::message> got;
    consumer.async_receive([&](std::error_code ec, kk::message m) {
        ASSERT_FALSE(ec);
        got = std::move(m);
    });
    ASSERT_TRUE(run_until(context, [&] { return got.has_value(); }));
    EXPECT_EQ(got->value, "event-0");
}

} // namespace
