// The C++ blocks of docs/kafka.md: each region is copied into the page by
// scripts/docs-sync; the test build compiles this file. A region that is an
// excerpt sits in a function whose parameters are what the page assumes.

#include <keel/config/registry.hpp>
#include <keel/kafka/consumer.hpp>
#include <keel/kafka/processor.hpp>
#include <keel/kafka/producer.hpp>
#include <keel/kafka/service.hpp>
#include <keel/pipeline.hpp>

#include <asio/awaitable.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/use_awaitable.hpp>

#include <functional>
#include <string>
#include <system_error>
#include <vector>

namespace kafka_docs {

[[maybe_unused]] void service(const std::string& order_id, const std::string& payload,
                              const std::string& event_id) {
    // [snippet:service]
    #include <keel/config/registry.hpp>
    #include <keel/kafka/service.hpp>

    asio::io_context io;
    keel::config::registry policies(io.get_executor(), keel::config::load_file("service.yaml"));
    keel::kafka::service events(io.get_executor(), policies, "events");

    events.async_produce("orders", order_id, payload, {{"event-id", event_id}},
                         [](std::error_code ec, keel::kafka::delivery d) {
                             if (ec) { /* after keel's retries: ec.message(), keel::classify(ec) */ }
                             else    { /* d.partition, d.offset */ }
                         });
    io.run();
    // [end]
}

[[maybe_unused]] asio::awaitable<void> producer(asio::io_context& io, keel::pipeline& pipeline,
                                                std::string key, std::string value,
                                                keel::kafka::header_list headers) {
    auto token = [](std::error_code, keel::kafka::delivery) {};
    // [snippet:producer]
    keel::kafka::producer_options o;
    o.bootstrap_servers = "127.0.0.1:9092";
    o.properties = {{"linger.ms", "5"}};       // any librdkafka property
    keel::kafka::producer producer(io.get_executor(), o);

    // Callback, future, coroutine: any completion token.
    auto [ec, where] = co_await producer.async_produce(
        "orders", key, value, headers, asio::experimental::as_tuple(asio::use_awaitable));

    // Through a pipeline (what service::async_produce does):
    producer.async_call(pipeline, "orders", key, value, headers, token);
    // [end]
}

[[maybe_unused]] asio::awaitable<void> transactions(asio::io_context& io,
                                                    keel::kafka::producer_options o,
                                                    std::vector<keel::kafka::message> events) {
    auto on_delivery = [](std::error_code, keel::kafka::delivery) {};
    // [snippet:transactions]
    o.transactional_id = "orders-writer-1";   // stable per producer instance
    keel::kafka::producer producer(io.get_executor(), o);

    co_await producer.async_begin_transaction(asio::use_awaitable);
    for (auto& e : events)
        producer.async_produce("ledger", e.key, e.value, on_delivery);
    co_await producer.async_commit_transaction(asio::use_awaitable); // flushes first
    // [end]
}

[[maybe_unused]] asio::awaitable<void> consumer(asio::io_context& io) {
    using asio::use_awaitable;
    using asio::experimental::as_tuple;
    // [snippet:consumer]
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

void apply_to_read_model(const keel::kafka::message&, std::function<void(std::error_code)>);

[[maybe_unused]] void processor(keel::kafka::consumer& consumer, keel::config::registry& policies,
                                keel::kafka::producer& producer) {
    // [snippet:processor]
    auto loop = keel::kafka::processor<keel::config::configured_pipeline>::start(
        consumer, policies.pipeline("billing-handler"), producer, "orders.dlq",
        [](const keel::kafka::message& m, const keel::attempt& a,
           std::function<void(std::error_code)> done) {
            apply_to_read_model(m, std::move(done));   // done(ec) once
        });
    // ... until the service stops:
    loop->stop();
    // [end]
}

} // namespace kafka_docs
