// The relay's look at what Kafka already holds of one batch: the `outbox_id`
// headers of the messages whose `relay_batch` header names it, read from the
// end of every partition of the topic.
#pragma once

#include <keel/kafka/message.hpp>

#include <chrono>
#include <cstdint>
#include <set>
#include <string>

namespace cqrs::relay {

struct tail_scan_options {
    std::string bootstrap_servers;
    /// The dependency's librdkafka properties; only those a consumer can use
    /// (security, sockets, reconnects, client.id) are applied.
    keel::kafka::property_list properties;
    std::string topic;
    /// How far back a partition is read first; the window grows (4x) until
    /// it reaches a message of an earlier batch or the partition's start:
    /// retried attempts of one batch can fill a partition's tail.
    std::int64_t window = 1000;
    /// For the whole scan: metadata, watermarks and reading.
    std::chrono::milliseconds timeout{20000};
};

/// Blocking: run it off the loop. Reads every partition of the topic with
/// isolation.level=read_committed from far enough back to have passed every
/// message of `batch_id` and returns the `outbox_id` header of each message
/// of that batch (each once, however often it was published). Throws
/// std::runtime_error saying what failed (librdkafka's reason, the
/// partition) when the cluster does not answer in time: the caller must not
/// guess.
///
/// Why the tail is enough: the relay has at most one batch in flight and
/// claims the next only after it marked the previous one published, so in
/// every partition the messages of the in-flight batch (and of its failed
/// attempts) follow those of every earlier batch.
///
/// Why outbox ids and not just "is the batch there": a caller must count a
/// batch published only when every one of its rows is seen. On Kafka a
/// transaction is all or nothing to a read_committed reader, so seeing one
/// message is seeing all. librdkafka's mock cluster (2.0.2) writes no
/// transaction markers: its readers also see the messages of aborted
/// attempts, including the part of a batch a killed relay got out before
/// it died.
std::set<std::int64_t> outbox_ids_of_batch(const tail_scan_options& options, std::int64_t batch_id);

} // namespace cqrs::relay
