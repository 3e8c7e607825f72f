// keel::kafka::processor against librdkafka's mock cluster: a poison message
// is dead-lettered and the group loses nothing when a member stops.
#include <keel/kafka/consumer.hpp>
#include <keel/kafka/processor.hpp>
#include <keel/kafka/producer.hpp>
#include <keel/pipeline.hpp>

#include "harness/kafka/mock_cluster.hpp"
#include "support/clients.hpp"
#include "support/run.hpp"
#include <asio/io_context.hpp>
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <map>
#include <optional>
#include <set>
#include <string>

namespace {

namespace kk = keel::kafka;
using namespace kk::testing; // the mock cluster, the clients, run_until

// A poison message: the handler fails every attempt (transient, so the
// policy retries it); then it is dead-lettered with the error in its
// headers, committed, and the messages after it are processed.
TEST(kafka_processor, poison_message_lands_in_the_dead_letter_topic) {
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
TEST(kafka_processor, group_of_two_loses_nothing_when_one_member_stops) {
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
