// Clients of the kafka integration tests: a producer and group consumers
// tuned to notice the mock cluster's changes quickly, a pipeline policy that
// retries quickly, and a helper that produces a numbered batch and waits for
// every delivery.
#pragma once

#include <keel/kafka/consumer.hpp>
#include <keel/kafka/producer.hpp>
#include <keel/pipeline.hpp>

#include "harness/kafka/mock_cluster.hpp"
#include "support/run.hpp"
#include <asio/io_context.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <system_error>

namespace keel::kafka::testing {

inline const keel::kafka::property_list quick{{"reconnect.backoff.ms", "10"},
                                              {"reconnect.backoff.max.ms", "100"},
                                              {"retry.backoff.ms", "10"},
                                              {"log_level", "2"}};

inline keel::kafka::producer_options producer_for(const mock_cluster& cluster) {
    keel::kafka::producer_options o;
    o.bootstrap_servers = cluster.bootstrap();
    o.properties = quick;
    o.properties.emplace_back("linger.ms", "1");
    return o;
}

inline keel::kafka::consumer_options consumer_for(const mock_cluster& cluster, std::string group) {
    keel::kafka::consumer_options o;
    o.bootstrap_servers = cluster.bootstrap();
    o.group_id = std::move(group);
    o.properties = quick;
    o.properties.emplace_back("session.timeout.ms", "6000");
    o.properties.emplace_back("heartbeat.interval.ms", "100");
    o.properties.emplace_back("fetch.wait.max.ms", "10");
    return o;
}

inline void produce_all(asio::io_context& context, keel::kafka::producer& producer,
                        const std::string& topic, int count, const std::string& prefix = "event-") {
    int done = 0;
    for (int i = 0; i < count; ++i)
        producer.async_produce(topic, "key-" + std::to_string(i), prefix + std::to_string(i),
                               [&](std::error_code ec, keel::kafka::delivery) {
                                   ASSERT_FALSE(ec) << ec.message();
                                   ++done;
                               });
    ASSERT_TRUE(run_until(context, [&] { return done == count; }));
}

inline keel::pipeline_policy quick_retries(int attempts) {
    keel::pipeline_policy policy;
    policy.retry.max_attempts = attempts;
    policy.retry.backoff.initial = std::chrono::milliseconds(1);
    policy.retry.backoff.max = std::chrono::milliseconds(5);
    return policy;
}

} // namespace keel::kafka::testing
