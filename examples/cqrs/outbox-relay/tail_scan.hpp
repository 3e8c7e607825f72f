// The relay's look at what Kafka already holds: the greatest `relay_batch`
// header among the committed messages at the end of a topic's partitions.
#pragma once

#include <keel/kafka/message.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace cqrs::relay {

struct tail_scan_options {
    std::string bootstrap_servers;
    /// The dependency's librdkafka properties; only those a consumer can use
    /// (security, sockets, reconnects, client.id) are applied.
    keel::kafka::property_list properties;
    std::string topic;
    /// How far back a partition is read first (doubled while the window
    /// holds no committed message with the header: aborted retries of a
    /// batch leave aborted messages behind, which read_committed skips).
    std::int64_t window = 1000;
    /// For the whole scan: metadata, watermarks and reading.
    std::chrono::milliseconds timeout{20000};
};

/// Blocking: run it off the loop. Reads the last committed messages of every
/// partition of the topic with isolation.level=read_committed and returns the
/// greatest `relay_batch` header seen, nullopt when no partition has one (an
/// empty or new topic). Throws std::runtime_error saying what failed
/// (librdkafka's reason, the partition) when the cluster does not answer in
/// time: the caller must not guess.
///
/// Why the tail is enough: the relay has at most one batch in flight and
/// claims the next only after it marked the previous one published, so the
/// messages of the in-flight batch, if committed, are the last committed
/// ones of every partition they went to.
std::optional<std::int64_t> greatest_relay_batch(const tail_scan_options& options);

} // namespace cqrs::relay
