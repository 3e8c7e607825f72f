// keel::kafka::consumer and processor against librdkafka's mock cluster.
#include <keel/kafka/consumer.hpp>
#include <keel/kafka/processor.hpp>
#include <keel/kafka/producer.hpp>
#include <keel/pipeline.hpp>

#include "harness/kafka/mock_cluster.hpp"
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
using kk::testing::mock_cluster;
using kk::testing::read_topic;
using kk::testing::run_until;

const kk::property_list quick{{"reconnect.backoff.ms", "10"},
                              {"reconnect.backoff.max.ms", "100"},
                              {"retry.backoff.ms", "10"},
                              {"log_level", "2"}};

kk::producer_options producer_for(const mock_cluster& cluster) {
    kk::producer_options o;
    o.bootstrap_servers = cluster.bootstrap();
    o.properties = quick;
    o.properties.emplace_back("linger.ms", "1");
    return o;
}

kk::consumer_options consumer_for(const mock_cluster& cluster, std::string group) {
    kk::consumer_options o;
    o.bootstrap_servers = cluster.bootstrap();
    o.group_id = std::move(group);
    o.properties = quick;
    o.properties.emplace_back("session.timeout.ms", "6000");
    o.properties.emplace_back("heartbeat.interval.ms", "100");
    o.properties.emplace_back("fetch.wait.max.ms", "10");
    return o;
}

void produce_all(asio::io_context& context, kk::producer& producer, const std::string& topic,
                 int count, const std::string& prefix = "event-") {
    int done = 0;
    for (int i = 0; i < count; ++i)
        producer.async_produce(topic, "key-" + std::to_string(i), prefix + std::to_string(i),
                               [&](std::error_code ec, kk::delivery) {
                                   ASSERT_FALSE(ec) << ec.message();
                                   ++done;
                               });
    ASSERT_TRUE(run_until(context, [&] { return done == count; }));
}

// Received in order; what was committed is not received again by the
// group, what was not committed is (at-least-once).
TEST(KafkaConsumer, ReceivesAndResumesAfterTheLastCommit) {
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

TEST(KafkaConsumer, CancelledReceiveLosesNoMessage) {
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

keel::pipeline_policy quick_retries(int attempts) {
    keel::pipeline_policy policy;
    policy.retry.max_attempts = attempts;
    policy.retry.backoff.initial = std::chrono::milliseconds(1);
    policy.retry.backoff.max = std::chrono::milliseconds(5);
    return policy;
}

// A poison message: the handler fails every attempt (transient, so the
// policy retries it); then it is dead-lettered with the error in its
// headers, committed, and the messages after it are processed.
TEST(KafkaProcessor, PoisonMessageLandsInTheDeadLetterTopic) {
    mock_cluster cluster;
    cluster.create_topic("orders", 1);
    cluster.create_topic("orders.dlq", 1);
    asio::io_context context;
    kk::producer producer(context.get_executor(), producer_for(cluster));
    produce_all(context, producer, "orders", 2, "good-");
    produce_all(context, producer, "orders", 1, "poison-");
    produce_all(context, producer, "orders", 2, "fine-");
    kk::consumer consumer(context.get_executor(), consumer_for(cluster, "billing"));
    consumer.subscribe({"orders"});
    keel::pipeline pipeline(context, "billing-handler", quick_retries(3));
    std::map<std::string, int> calls;
    std::vector<std::string> done;
    auto loop = kk::processor<keel::pipeline>::start(
        consumer, pipeline, producer, "orders.dlq",
        [&](const kk::message& m, const keel::attempt&, std::function<void(std::error_code)> cb) {
            ++calls[m.value];
            if (m.value.starts_with("poison"))
                return cb(make_error_code(std::errc::connection_reset)); // transient
            done.push_back(m.value);
            cb({});
        });
    ASSERT_TRUE(run_until(context, [&] { return done.size() == 4 && loop->dead_lettered() == 1; }));
    EXPECT_EQ(calls["poison-0"], 3);
    EXPECT_EQ(calls["good-0"], 1);
    EXPECT_EQ(done, (std::vector<std::string>{"good-0", "good-1", "fine-0", "fine-1"}));
    loop->stop();
    ASSERT_TRUE(run_until(context, [&] { return loop->stopped(); }));

    const auto dlq = read_topic(cluster.bootstrap(), "orders.dlq");
    ASSERT_EQ(dlq.size(), 1u);
    EXPECT_EQ(dlq[0].value, "poison-0");
    EXPECT_EQ(dlq[0].key, "key-0");
    std::map<std::string, std::string> h(dlq[0].headers.begin(), dlq[0].headers.end());
    EXPECT_EQ(h[kk::dead_letter_header::error_code], std::to_string(ECONNRESET));
    EXPECT_EQ(h[kk::dead_letter_header::fault], "transient");
    EXPECT_EQ(h[kk::dead_letter_header::attempts], "3");
    EXPECT_EQ(h[kk::dead_letter_header::source_topic], "orders");
    EXPECT_EQ(h[kk::dead_letter_header::source_offset], "2");

    // Everything was committed: the group, once this member left, has
    // nothing left to read but what comes next.
    std::optional<std::error_code> closed;
    consumer.async_close([&](std::error_code ec) { closed = ec; });
    ASSERT_TRUE(run_until(context, [&] { return closed.has_value(); }));
    kk::consumer_options later = consumer_for(cluster, "billing");
    kk::consumer again(context.get_executor(), later);
    again.subscribe({"orders"});
    produce_all(context, producer, "orders", 1, "next-");
    std::optional<kk::message> first;
    again.async_receive([&](std::error_code, kk::message m) { first = std::move(m); });
    ASSERT_TRUE(run_until(context, [&] { return first.has_value(); }));
    EXPECT_EQ(first->value, "next-0");
}

// A group of two; one member stops mid-stream and leaves. After the
// rebalance the other processes the rest: every message is processed at
// least once, none is lost.
TEST(KafkaProcessor, GroupOfTwoLosesNothingWhenOneMemberStops) {
    mock_cluster cluster;
    cluster.create_topic("orders", 4);
    asio::io_context context;
    kk::producer producer(context.get_executor(), producer_for(cluster));
    constexpr int total = 200;
    produce_all(context, producer, "orders", total);
    keel::pipeline pipeline(context, "handler", quick_retries(2));
    kk::consumer a(context.get_executor(), consumer_for(cluster, "readers"));
    kk::consumer b(context.get_executor(), consumer_for(cluster, "readers"));
    a.subscribe({"orders"});
    b.subscribe({"orders"});
    std::set<std::string> processed;
    int by_a = 0;
    auto handler_for = [&](int* count) {
        return [&, count](const kk::message& m, const keel::attempt&,
                          std::function<void(std::error_code)> cb) {
            processed.insert(m.value);
            if (count)
                ++*count;
            cb({});
        };
    };
    auto loop_a = kk::processor<keel::pipeline>::start(a, pipeline, producer, "orders.dlq",
                                                       handler_for(&by_a));
    auto loop_b = kk::processor<keel::pipeline>::start(b, pipeline, producer, "orders.dlq",
                                                       handler_for(nullptr));
    ASSERT_TRUE(run_until(
        context, [&] { return by_a >= 10; }, std::chrono::seconds(40)));
    loop_a->stop();
    ASSERT_TRUE(run_until(context, [&] { return loop_a->stopped(); }));
    std::optional<std::error_code> closed;
    a.async_close([&](std::error_code ec) { closed = ec; });
    ASSERT_TRUE(run_until(context, [&] { return closed.has_value(); }));
    ASSERT_TRUE(run_until(
        context, [&] { return processed.size() == total; }, std::chrono::seconds(40)))
        << processed.size();
    for (int i = 0; i < total; ++i)
        EXPECT_EQ(processed.count("event-" + std::to_string(i)), 1u) << i;
    loop_b->stop();
    ASSERT_TRUE(run_until(context, [&] { return loop_b->stopped(); }));
}

} // namespace
