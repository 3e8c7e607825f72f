// keel::kafka::producer against librdkafka's mock cluster.
#include <keel/fault_injection.hpp>
#include <keel/kafka/producer.hpp>
#include <keel/pipeline.hpp>
#include <keel/reporting_pipeline.hpp>

#include "harness/kafka/mock_cluster.hpp"
#include "support/clients.hpp"
#include "support/run.hpp"
#include <asio/bind_allocator.hpp>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/bind_executor.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace {

namespace kk = keel::kafka;
using kk::testing::mock_cluster;
using kk::testing::quick_retries;
using kk::testing::read_topic;
using kk::testing::run_until;

constexpr std::int16_t produce_api = 0;
constexpr std::int16_t add_partitions_to_txn_api = 24;

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

TEST(kafka_producer, delivers_with_partition_and_offset_and_kcat_like_reader_sees_it) {
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

TEST(kafka_producer, refuses_an_unknown_property_by_name) {
    asio::io_context context;
    kk::producer_options o;
    o.bootstrap_servers = "127.0.0.1:1";
    o.properties = {{"linger.msec", "5"}};
    try {
        kk::producer producer(context.get_executor(), o);
        FAIL() << "no exception";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("'linger.msec'"), std::string::npos) << e.what();
    }
}

/// Counts what it allocates: proves an operation uses the handler's allocator.
template <class T>
struct counting_allocator {
    using value_type = T;
    int* count;
    explicit counting_allocator(int* c) noexcept : count(c) {}
    template <class U>
    counting_allocator(const counting_allocator<U>& other) noexcept : count(other.count) {}
    T* allocate(std::size_t n) {
        ++*count;
        return std::allocator<T>().allocate(n);
    }
    void deallocate(T* p, std::size_t n) noexcept { std::allocator<T>().deallocate(p, n); }
    template <class U>
    bool operator==(const counting_allocator<U>& other) const noexcept {
        return count == other.count;
    }
};

// The handler's executor and allocator reach the operation: the completion
// runs on the handler's executor (not the producer's), once, and the
// operation is allocated with the handler's allocator.
TEST(kafka_producer, completes_on_the_handlers_executor_with_its_allocator) {
    mock_cluster cluster;
    cluster.create_topic("t", 1);
    asio::io_context context, elsewhere;
    kk::producer producer(context.get_executor(), options_for(cluster));
    int allocations = 0, calls = 0;
    bool on_elsewhere = false;
    producer.async_produce(
        "t", "k", "v",
        asio::bind_allocator(counting_allocator<void>(&allocations),
                             asio::bind_executor(elsewhere, [&](std::error_code ec, kk::delivery) {
                                 EXPECT_FALSE(ec);
                                 on_elsewhere = elsewhere.get_executor().running_in_this_thread();
                                 ++calls;
                             })));
    EXPECT_EQ(allocations, 1);
    ASSERT_TRUE(run_until(context, [&] { return producer.in_flight() == 0; }));
    EXPECT_EQ(calls, 0); // reported, but the handler waits for its own executor
    elsewhere.run();
    EXPECT_EQ(calls, 1);
    EXPECT_TRUE(on_elsewhere);
}

// A retriable broker error is retried inside librdkafka: the caller sees
// the delivery, once.
TEST(kafka_producer, transient_broker_error_is_retried_inside_librdkafka) {
    mock_cluster cluster;
    cluster.create_topic("t", 1);
    asio::io_context context;
    kk::producer producer(context.get_executor(), options_for(cluster));
    cluster.push_request_errors(produce_api, {RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
                                              RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION});
    outcome r;
    producer.async_produce("t", "k", "v", record(r));
    ASSERT_TRUE(run_until(context, [&] { return r.ec.has_value(); }));
    EXPECT_FALSE(*r.ec) << r.ec->message();
    EXPECT_EQ(r.where.offset, 0);
    EXPECT_EQ(read_topic(cluster.bootstrap(), "t").size(), 1u);
}

// A permanent broker error reaches the caller, classified; the pipeline
// does not retry it.
TEST(kafka_producer, permanent_broker_error_is_not_retried_by_the_pipeline) {
    mock_cluster cluster;
    cluster.create_topic("t", 1);
    asio::io_context context;
    kk::producer producer(context.get_executor(), options_for(cluster));
    keel::pipeline pipeline(context, "events", quick_retries(3));
    cluster.push_request_errors(produce_api, {RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED});
    std::optional<std::error_code> result;
    keel::call_report report;
    pipeline.async_run<void(std::error_code, kk::delivery)>(
        [&](const keel::attempt&, auto&& token) {
            return producer.async_produce("t", "k", "v", std::move(token));
        },
        report, [&](std::error_code ec, kk::delivery) { result = ec; });
    ASSERT_TRUE(run_until(context, [&] { return result.has_value(); }));
    EXPECT_EQ(*result, kk::make_error_code(RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED));
    EXPECT_EQ(keel::classify(*result), keel::fault_class::permanent);
    EXPECT_EQ(report.attempts, 1);
}

// A message over message.max.bytes is refused by librdkafka at once; the
// caller still gets it through its handler, not inline.
TEST(kafka_producer, too_large_message_fails_permanently_without_completing_inline) {
    mock_cluster cluster;
    asio::io_context context;
    kk::producer producer(context.get_executor(),
                          options_for(cluster, {{"message.max.bytes", "1000"}}));
    outcome r;
    producer.async_produce("t", "k", std::string(5000, 'x'), record(r));
    EXPECT_FALSE(r.ec.has_value());
    ASSERT_TRUE(run_until(context, [&] { return r.ec.has_value(); }));
    EXPECT_EQ(*r.ec, kk::make_error_code(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE));
    EXPECT_EQ(keel::classify(*r.ec), keel::fault_class::permanent);
}

// All brokers down past message.timeout.ms: _MSG_TIMED_OUT, a timeout the
// pipeline retries; when the broker is back, producing works again.
TEST(kafka_producer, all_brokers_down_past_the_delivery_deadline_times_out) {
    mock_cluster cluster;
    cluster.create_topic("t", 1);
    asio::io_context context;
    kk::producer producer(context.get_executor(),
                          options_for(cluster, {{"message.timeout.ms", "300"}}));
    keel::pipeline pipeline(context, "events", quick_retries(2));
    cluster.broker_down(1);
    std::optional<std::error_code> result;
    keel::call_report report;
    producer.async_call(pipeline, "t", "k", "v", {},
                        [&](std::error_code ec, kk::delivery) { result = ec; });
    ASSERT_TRUE(run_until(context, [&] { return result.has_value(); }));
    EXPECT_EQ(*result, kk::make_error_code(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT));
    EXPECT_EQ(keel::classify(*result), keel::fault_class::timeout);

    // An injected connection_refused ends a produce as this real outage does.
    const std::error_code real = *result;
    keel::enable_fault_injection(true);
    keel::fault_rule refused;
    refused.rate = 1.0;
    std::string why;
    refused.error = *keel::fault_error_from_name("connection_refused", why);
    keel::pipeline_policy injecting = quick_retries(2);
    injecting.faults = std::make_shared<keel::fault_plan>(std::vector<keel::fault_rule>{refused});
    keel::pipeline injected(context, "events-injected", injecting);
    result.reset();
    producer.async_call(injected, "t", "k", "v", {},
                        [&](std::error_code ec, kk::delivery) { result = ec; });
    ASSERT_TRUE(run_until(context, [&] { return result.has_value(); }));
    keel::enable_fault_injection(false);
    EXPECT_EQ(*result, real);
    EXPECT_EQ(keel::classify(*result), keel::classify(real));
    EXPECT_EQ(injecting.faults->injected(keel::fault_kind::error), 2u);

    // Through a report: the attempts and why the call gave up.
    result.reset();
    producer.async_call(keel::with_report(pipeline, report), "t", "k", "v", {},
                        [&](std::error_code ec, kk::delivery) { result = ec; });
    ASSERT_TRUE(run_until(context, [&] { return result.has_value(); }));
    EXPECT_EQ(report.attempts, 2);
    EXPECT_EQ(report.reason, keel::give_up_reason::attempts_exhausted);

    // Back up: reconnecting (and re-establishing the idempotent producer's
    // epoch) can outlast this short delivery timeout, so the first produces
    // may still time out; keel's policy produces again until one lands.
    cluster.broker_up(1);
    keel::pipeline patient(context, "events-after", quick_retries(20));
    producer.async_call(patient, "t", "k", "after", {},
                        [&](std::error_code ec, kk::delivery) { result = ec; });
    result.reset();
    ASSERT_TRUE(run_until(context, [&] { return result.has_value(); }));
    EXPECT_FALSE(*result) << result->message();
}

// Nothing listens at all: librdkafka reports connection errors, then the
// delivery timeout. Regression: librdkafka signals the eventfd only when its
// queue turns non-empty, and a connection error queued before the eventfd
// was attached meant no signal ever came -- the produce never completed
// (for one producer in a few; eight make it near certain to show).
TEST(kafka_producer, no_broker_listening_times_out_and_is_reported) {
    asio::io_context context;
    std::uint16_t port = 0;
    {
        asio::ip::tcp::acceptor probe(context, {asio::ip::make_address("127.0.0.1"), 0});
        port = probe.local_endpoint().port();
    }
    kk::producer_options o;
    o.bootstrap_servers = "127.0.0.1:" + std::to_string(port);
    o.properties = {{"message.timeout.ms", "200"}, {"log_level", "0"}};
    constexpr int producers = 8;
    std::vector<std::unique_ptr<kk::producer>> clients;
    std::vector<outcome> results(producers);
    for (int i = 0; i < producers; ++i) {
        clients.push_back(std::make_unique<kk::producer>(context.get_executor(), o));
        clients.back()->async_produce("t", "k", "v", record(results[i]));
    }
    ASSERT_TRUE(run_until(
        context,
        [&] {
            for (auto& r : results)
                if (!r.ec)
                    return false;
            return true;
        },
        std::chrono::seconds(15)));
    for (auto& r : results)
        EXPECT_EQ(*r.ec, kk::make_error_code(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT));
}

// One broker of three down, then up: the produces wait inside librdkafka
// (within message.timeout.ms) and every one completes, successfully, once
// the broker is back; none is lost. (The idempotent producer may hold back
// the other brokers' partitions too while it drains; and the mock cluster
// does not dedupe a non-transactional producer's resends, so "exactly once
// in the topic" is the transactional test's claim, not this one's.)
TEST(kafka_producer, one_broker_down_then_up_delivers_everything) {
    mock_cluster cluster(3);
    cluster.create_topic("t", 3, 3);
    for (int p = 0; p < 3; ++p)
        cluster.set_leader("t", p, p + 1); // broker 2 leads partition 1
    asio::io_context context;
    kk::producer producer(context.get_executor(), options_for(cluster));
    // Learn the leaders first: one delivery per partition.
    std::set<std::int32_t> warm;
    for (int i = 0; i < 30; ++i)
        producer.async_produce("t", "warm-" + std::to_string(i), "w",
                               [&](std::error_code ec, kk::delivery d) {
                                   if (!ec)
                                       warm.insert(d.partition);
                               });
    ASSERT_TRUE(run_until(context, [&] { return producer.in_flight() == 0; }));
    ASSERT_EQ(warm.size(), 3u);

    cluster.broker_down(2);
    int ok = 0, failed = 0;
    std::set<std::int32_t> partitions;
    for (int i = 0; i < 60; ++i)
        producer.async_produce("t", "key-" + std::to_string(i), "event-" + std::to_string(i),
                               [&](std::error_code ec, kk::delivery d) {
                                   ++(ec ? failed : ok);
                                   partitions.insert(d.partition);
                               });
    // Broker 2 stays down for a while (a bound, not an assertion: whatever
    // completes meanwhile is checked below with the rest).
    run_until(
        context, [&] { return ok + failed == 60; }, std::chrono::milliseconds(500));
    EXPECT_LT(ok + failed, 60); // broker 2's partition cannot have been written
    cluster.broker_up(2);
    ASSERT_TRUE(run_until(context, [&] { return ok + failed == 60; }));
    EXPECT_EQ(failed, 0);
    EXPECT_EQ(partitions.size(), 3u);
    std::set<std::string> values;
    for (auto& m : read_topic(cluster.bootstrap(), "t"))
        if (m.value != "w")
            values.insert(m.value);
    EXPECT_EQ(values.size(), 60u); // every event, none lost
}

// librdkafka's queue full: produces wait for room, in order, and none fails.
TEST(kafka_producer, full_queue_makes_produces_wait_not_fail) {
    mock_cluster cluster;
    cluster.create_topic("t", 1);
    asio::io_context context;
    kk::producer producer(context.get_executor(),
                          options_for(cluster, {{"queue.buffering.max.messages", "5"}}));
    std::vector<outcome> results(200);
    for (int i = 0; i < 200; ++i)
        producer.async_produce("t", "k", std::to_string(i), record(results[i]));
    EXPECT_GT(producer.in_flight(), 5u); // some wait in keel, beyond librdkafka's 5
    ASSERT_TRUE(run_until(context, [&] { return results.back().ec.has_value(); }));
    for (int i = 0; i < 200; ++i) {
        ASSERT_TRUE(results[i].ec.has_value()) << i;
        EXPECT_FALSE(*results[i].ec) << i << ": " << results[i].ec->message();
        EXPECT_EQ(results[i].where.offset, i); // in order
    }
}

// A produce still waiting for room that is cancelled is never sent; one
// handed to librdkafka is reported aborted but still delivered.
TEST(kafka_producer, cancelled_produce_waiting_for_room_is_never_sent) {
    mock_cluster cluster;
    cluster.create_topic("t", 1);
    asio::io_context context;
    kk::producer producer(context.get_executor(),
                          options_for(cluster, {{"queue.buffering.max.messages", "1"}}));
    cluster.broker_down(1);
    asio::cancellation_signal cancel_first, cancel_second;
    outcome first, second;
    producer.async_produce("t", "k", "handed-over",
                           asio::bind_cancellation_slot(cancel_first.slot(), record(first)));
    producer.async_produce("t", "k", "waiting",
                           asio::bind_cancellation_slot(cancel_second.slot(), record(second)));
    cancel_first.emit(asio::cancellation_type::terminal);
    cancel_second.emit(asio::cancellation_type::terminal);
    EXPECT_FALSE(first.ec.has_value()); // posted, not inline
    ASSERT_TRUE(run_until(context, [&] { return first.ec && second.ec; }));
    EXPECT_EQ(*first.ec, asio::error::operation_aborted);
    EXPECT_EQ(*second.ec, asio::error::operation_aborted);
    cluster.broker_up(1);
    ASSERT_TRUE(run_until(context, [&] { return producer.in_flight() == 0; }));
    const auto read = read_topic(cluster.bootstrap(), "t");
    ASSERT_EQ(read.size(), 1u);
    EXPECT_EQ(read[0].value, "handed-over"); // a cancelled wait may still deliver
}

// A fatal error (the idempotent producer's sequence broken by the broker)
// rebuilds the producer; the next produce goes through the new one.
TEST(kafka_producer, fatal_error_rebuilds_the_producer) {
    mock_cluster cluster;
    cluster.create_topic("t", 1);
    asio::io_context context;
    kk::producer producer(context.get_executor(), options_for(cluster));
    outcome warm;
    producer.async_produce("t", "k", "first", record(warm));
    ASSERT_TRUE(run_until(context, [&] { return warm.ec.has_value(); }));
    ASSERT_FALSE(*warm.ec);
    cluster.push_request_errors(produce_api, {RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER});
    outcome broken;
    producer.async_produce("t", "k", "second", record(broken));
    ASSERT_TRUE(run_until(context, [&] { return broken.ec.has_value(); }));
    EXPECT_TRUE(*broken.ec) << "delivered at " << broken.where.offset;
    ASSERT_TRUE(run_until(context, [&] { return producer.rebuilds() == 1; }));
    outcome after;
    producer.async_produce("t", "k", "third", record(after));
    ASSERT_TRUE(run_until(context, [&] { return after.ec.has_value(); }));
    EXPECT_FALSE(*after.ec) << after.ec->message();
    EXPECT_EQ(producer.rebuilds(), 1u);
}

// A transactional producer whose broker acknowledges late (past
// request.timeout.ms, so librdkafka sends again) still writes each event
// exactly once: counted and checked for duplicates by a read_committed reader.
TEST(kafka_producer, transactional_producer_with_delayed_acks_delivers_exactly_once) {
    mock_cluster cluster;
    cluster.create_topic("ledger", 2);
    asio::io_context context;
    auto o = options_for(cluster, {{"request.timeout.ms", "300"}, {"message.timeout.ms", "20000"}});
    o.transactional_id = "keel-ledger-writer";
    o.transaction_timeout = std::chrono::seconds(20);
    kk::producer producer(context.get_executor(), o);
    constexpr int batches = 3, per_batch = 20;
    for (int b = 0; b < batches; ++b) {
        std::optional<std::error_code> began, committed;
        producer.async_begin_transaction([&](std::error_code ec) { began = ec; });
        ASSERT_TRUE(run_until(context, [&] { return began.has_value(); }));
        ASSERT_FALSE(*began) << began->message();
        if (b == 1) // acknowledgements of the next Produce requests arrive late
            cluster.delay_responses(1, produce_api, 2, std::chrono::milliseconds(600));
        int delivered = 0;
        for (int i = 0; i < per_batch; ++i)
            producer.async_produce("ledger", "account-" + std::to_string(i % 4),
                                   "event-" + std::to_string(b * per_batch + i),
                                   [&](std::error_code ec, kk::delivery) {
                                       EXPECT_FALSE(ec) << ec.message();
                                       ++delivered;
                                   });
        producer.async_commit_transaction([&](std::error_code ec) { committed = ec; });
        ASSERT_TRUE(run_until(
            context, [&] { return committed.has_value(); }, std::chrono::seconds(30)));
        ASSERT_FALSE(*committed) << committed->message();
        ASSERT_TRUE(run_until(context, [&] { return delivered == per_batch; }));
    }
    // An abort ends the transaction and leaves the producer usable.
    std::optional<std::error_code> began, aborted, committed;
    producer.async_begin_transaction([&](std::error_code ec) { began = ec; });
    ASSERT_TRUE(run_until(context, [&] { return began.has_value(); }));
    ASSERT_FALSE(*began) << began->message();
    producer.async_produce("ledger", "k", "aborted-event", [](std::error_code, kk::delivery) {});
    producer.async_abort_transaction([&](std::error_code ec) { aborted = ec; });
    ASSERT_TRUE(run_until(context, [&] { return aborted.has_value(); }));
    ASSERT_FALSE(*aborted) << aborted->message();
    began.reset();
    producer.async_begin_transaction([&](std::error_code ec) { began = ec; });
    ASSERT_TRUE(run_until(context, [&] { return began.has_value(); }));
    ASSERT_FALSE(*began) << began->message();
    producer.async_produce("ledger", "k", "after-abort", [](std::error_code, kk::delivery) {});
    producer.async_commit_transaction([&](std::error_code ec) { committed = ec; });
    ASSERT_TRUE(run_until(
        context, [&] { return committed.has_value(); }, std::chrono::seconds(30)));
    ASSERT_FALSE(*committed) << committed->message();

    // Not checked: that read_committed readers never see the aborted event.
    // librdkafka's mock cluster (2.0.2) writes no transaction markers, so its
    // readers see every message that reached a broker, aborted or not
    // (examples/cqrs/outbox-relay/tail_scan_test.cpp shows it); whether this
    // one did depends on timing. Isolation is Kafka's to prove.
    std::vector<std::string> committed_values;
    for (const auto& m : read_topic(cluster.bootstrap(), "ledger", true))
        if (m.value != "aborted-event")
            committed_values.push_back(m.value);
    const std::set<std::string> unique(committed_values.begin(), committed_values.end());
    EXPECT_EQ(committed_values.size(), static_cast<std::size_t>(batches * per_batch + 1));
    EXPECT_EQ(unique.size(), committed_values.size());
    EXPECT_EQ(unique.count("after-abort"), 1u);
}

// A transactional producer that Kafka fenced (a newer instance with the same
// transactional.id initialised) stays fenced: a new client of its own would
// run init_transactions with that id and fence the newer instance in turn.
// Every later step fails with _FENCED (permanent: keel does not retry it).
// librdkafka's mock does not fence by itself, so the broker's answer is
// injected.
TEST(kafka_producer, a_fenced_transactional_producer_stays_fenced) {
    mock_cluster cluster;
    cluster.create_topic("ledger", 1);
    asio::io_context context;
    auto o = options_for(cluster);
    o.transactional_id = "keel-fenced-writer";
    kk::producer producer(context.get_executor(), o);
    auto step = [&](auto&& start) {
        std::optional<std::error_code> ec;
        start([&](std::error_code e) { ec = e; });
        EXPECT_TRUE(run_until(
            context, [&] { return ec.has_value(); }, std::chrono::seconds(30)));
        return ec.value_or(std::make_error_code(std::errc::timed_out));
    };
    ASSERT_FALSE(step([&](auto h) { producer.async_begin_transaction(h); }));
    cluster.push_request_errors(add_partitions_to_txn_api, {RD_KAFKA_RESP_ERR_PRODUCER_FENCED});
    std::optional<std::error_code> delivered;
    producer.async_produce("ledger", "k", "v",
                           [&](std::error_code ec, kk::delivery) { delivered = ec; });
    const std::error_code committed = step([&](auto h) { producer.async_commit_transaction(h); });
    EXPECT_TRUE(committed);
    ASSERT_TRUE(run_until(context, [&] { return delivered.has_value(); }));
    EXPECT_TRUE(*delivered);

    const std::error_code began = step([&](auto h) { producer.async_begin_transaction(h); });
    EXPECT_EQ(began, kk::make_error_code(RD_KAFKA_RESP_ERR__FENCED)) << began.message();
    EXPECT_EQ(keel::classify(began), keel::fault_class::permanent);
    EXPECT_EQ(producer.rebuilds(), 0u);
}

} // namespace
