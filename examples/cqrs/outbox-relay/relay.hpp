// The transactional outbox relay (CONTRACT.md "Outbox relay"): outbox rows,
// written in the same DB transaction as their events, reach Kafka in Kafka
// transactions, one relay_batches row per transaction, so that a crash
// anywhere loses nothing and publishes nothing twice.
#pragma once

#include <keel/kafka/producer.hpp>
#include <keel/pg/service.hpp>

#include "common/runtime.hpp"
#include "tail_scan.hpp"
#include <asio/awaitable.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/steady_timer.hpp>
#include <asio/thread_pool.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <system_error>
#include <vector>

namespace cqrs::relay {

struct relay_options {
    std::string topic = "orders.events";
    std::string transactional_id = "cqrs-outbox-relay";
    int batch = 200;                       ///< rows per batch (= per Kafka transaction) at most
    std::chrono::milliseconds poll{20};    ///< the pause when the outbox is empty
    std::chrono::seconds stats_every{5};   ///< the periodic progress line
    std::chrono::milliseconds pause{1000}; ///< after a step failed past its policy
};

/// One outbox row on its way to Kafka.
struct outbox_row {
    std::int64_t id = 0;
    std::string order_id;
    std::string value;          ///< cqrs::to_json(event), compact
    std::string type;           ///< the event's type: the event_type header
    std::int64_t created_at_us; ///< the event's created_at, microseconds since the epoch
};

struct batch {
    std::int64_t id = 0;
    std::vector<outbox_row> rows; ///< in id order, which is version order within an order
};

/// Runs on the runtime's loop; everything it does is on that one thread,
/// except the blocking tail scan (a thread of its own) and librdkafka's.
class outbox_relay {
public:
    /// Throws config::config_error / std::out_of_range for a missing or bad
    /// `outbox-db` or `outbox-kafka` dependency.
    outbox_relay(runtime& rt, relay_options options);
    ~outbox_relay();

    /// Schema, fencing, recovery, then batches until stop(). Steps that fail
    /// past their keel policy are logged and tried again after a pause: the
    /// relay rides out a database or a cluster that is away for long. Once
    /// stopped it closes the Kafka producer (on the loop, which must keep
    /// running until what that close posts has run).
    asio::awaitable<void> run();

    /// From the loop (the runtime's shutdown handler): a batch being
    /// published finishes its current attempt (the Kafka transaction is
    /// committed or aborted, never left open) and is then marked or left
    /// in_flight for the next start to resolve; run() then returns.
    void stop();

private:
    asio::awaitable<void> fence();
    asio::awaitable<void> recover();
    asio::awaitable<std::optional<std::int64_t>> claim();
    asio::awaitable<batch> load(std::int64_t batch_id);
    asio::awaitable<void> deliver(const batch& b);
    asio::awaitable<std::error_code> publish(const batch& b);
    asio::awaitable<std::error_code> attempt(const batch& b, int number);
    asio::awaitable<std::error_code> produce_all(const batch& b);
    asio::awaitable<void> mark_published(std::int64_t batch_id);
    /// The outbox ids of batch `batch_id` the topic holds (tail_scan.hpp),
    /// read on a thread of its own.
    asio::awaitable<std::set<std::int64_t>> scan_tail(std::int64_t batch_id);
    /// The batch's rows the scan did not see (none: it is published).
    static batch missing_from(const batch& b, const std::set<std::int64_t>& seen);
    asio::awaitable<void> sleep(std::chrono::milliseconds d);
    asio::awaitable<void> report_progress();
    void rebuild_producer();

    runtime& rt_;
    relay_options options_;
    keel::pg::service db_;
    keel::config::configured_pipeline& kafka_policy_;
    keel::kafka::producer_options producer_options_;
    std::unique_ptr<keel::kafka::producer> producer_;
    tail_scan_options scan_options_;
    /// Where the blocking tail scans run. Declared after what they read, so
    /// it is joined before that goes.
    asio::thread_pool scan_worker_{1};

    asio::steady_timer wait_timer_;
    asio::steady_timer stats_timer_;
    asio::cancellation_signal publish_cancel_;
    bool stopping_ = false;
    bool publishing_ = false;
    /// An attempt failed: what it got out (a commit that went through, or on
    /// the mock cluster an aborted attempt's messages) may be in the topic;
    /// the next attempt reads the tail first and publishes only the rest.
    bool look_before_publishing_ = false;
    /// Kafka fenced us (a newer relay with our transactional.id): run()
    /// stops, and ends with an error saying so.
    bool fenced_ = false;
    std::string last_error_; ///< what the last failed attempt said, for the log

    // Progress, for the periodic line and the shutdown line.
    std::uint64_t batches_ = 0;
    std::uint64_t events_ = 0;
    std::uint64_t recovered_published_ = 0; ///< in_flight batches found in Kafka
    std::uint64_t recovered_again_ = 0;     ///< in_flight batches published again
    std::uint64_t failed_attempts_ = 0;
    std::uint64_t rebuilt_ = 0;
};

} // namespace cqrs::relay
