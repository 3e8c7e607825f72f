// The C++ blocks of docs/kafka.md: each region is copied into the page by
// scripts/docs-sync; the test build compiles this file.

#include <keel/config/registry.hpp>
#include <keel/kafka/service.hpp>

namespace a_dependency_from_the_2 {
// [snippet:a-dependency-from-the-2]
#include <keel/config/registry.hpp>
#include <keel/kafka/service.hpp>

asio::io_context io;
keel::config::registry policies(io.get_executor(), keel::config::load_file("service.yaml"));
keel::kafka::service events(io.get_executor(), policies, "events");

events.async_publish("orders", order_id, payload, {{"event-id", event_id}},
                     [](std::error_code ec, keel::kafka::delivery d) {
                         if (ec) { /* after keel's retries: ec.message(), keel::classify(ec) */ }
                         else    { /* d.partition, d.offset */ }
                     });
io.run();
// [end]
} // namespace a_dependency_from_the_2

[[maybe_unused]] void the_producer() {
    // [snippet:the-producer]
    keel::kafka::producer_options o;
    o.bootstrap_servers = "127.0.0.1:9092";
    o.properties = {{"linger.ms", "5"}};       // any librdkafka property
    keel::kafka::producer producer(io.get_executor(), o);

    // Callback, future, coroutine: any completion token.
    auto [ec, where] = co_await producer.async_produce(
        "orders", key, value, headers, asio::experimental::as_tuple(asio::use_awaitable));

    // Through a pipeline (what service::async_publish does):
    producer.async_call(pipeline, "orders", key, value, headers, token);
    // [end]
}

[[maybe_unused]] void transactions_exactly_once_publishing() {
    // [snippet:transactions-exactly-once-publishing]
    o.transactional_id = "orders-writer-1";   // stable per producer instance
    keel::kafka::producer producer(io.get_executor(), o);

    co_await producer.async_begin_transaction(asio::use_awaitable);
    for (auto& e : events)
        producer.async_produce("ledger", e.key, e.value, on_delivery);
    co_await producer.async_commit_transaction(asio::use_awaitable); // flushes first
    // [end]
}

[[maybe_unused]] void the_consumer() {
    // [snippet:the-consumer]
    keel::kafka::consumer_options c;
    c.bootstrap_servers = "127.0.0.1:9092";
    c.group_id = "billing";
    keel::kafka::consumer consumer(io.get_executor(), c);
    consumer.subscribe({"orders"});

    auto [ec, m] = co_await consumer.async_receive(as_tuple(use_awaitable));
    // m.topic, m.partition, m.offset, m.key, m.value, m.headers, m.timestamp_ms
    co_await consumer.async_commit(m, use_awaitable);   // next read: m.offset + 1
    co_await consumer.async_close(use_awaitable);        // leave the group now
    // [end]
}

[[maybe_unused]] void at_least_once_processing() {
    // [snippet:at-least-once-processing]
    auto loop = keel::kafka::processor<keel::config::configured_pipeline>::start(
        consumer, policies.pipeline("billing-handler"), producer, "orders.dlq",
        [](const keel::kafka::message& m, const keel::attempt& a,
           std::function<void(std::error_code)> done) {
            apply_to_read_model(m, std::move(done));   // done(ec) once
        });
    ...
    loop->stop();
    // [end]
}
