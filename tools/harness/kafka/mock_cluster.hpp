// librdkafka's own mock cluster, hosted by the test process on loopback,
// and a plain librdkafka reader that checks what reached it.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

struct rd_kafka_s;
struct rd_kafka_mock_cluster_s;

namespace keel::kafka::testing {

class mock_cluster {
public:
    explicit mock_cluster(int brokers = 1);
    ~mock_cluster();
    mock_cluster(const mock_cluster&) = delete;
    mock_cluster& operator=(const mock_cluster&) = delete;

    /// "127.0.0.1:port,..."
    std::string bootstrap() const;
    void create_topic(const std::string& topic, int partitions, int replication = 1);
    /// The next `errors.size()` requests of `api_key` (0: Produce, 8:
    /// OffsetCommit ...) fail with these errors, in order.
    void push_request_errors(std::int16_t api_key, const std::vector<int>& errors);
    /// Broker `id` answers the next `count` requests of `api_key` after `rtt`.
    void delay_responses(int broker, std::int16_t api_key, int count,
                         std::chrono::milliseconds rtt);
    /// Makes `broker` the leader of `topic`'s `partition`.
    void set_leader(const std::string& topic, int partition, int broker);
    void broker_down(int broker);
    void broker_up(int broker);
    rd_kafka_mock_cluster_s* handle() const noexcept { return cluster_; }

private:
    rd_kafka_s* host_ = nullptr;
    rd_kafka_mock_cluster_s* cluster_ = nullptr;
};

struct read_message {
    std::string key;
    std::string value;
    std::vector<std::pair<std::string, std::string>> headers;
    std::int32_t partition = -1;
    std::int64_t offset = -1;
};

/// Every message of `topic` (all partitions, from the beginning) up to the
/// end of each partition, read with a plain librdkafka consumer.
/// `read_committed`: only committed transactions' messages. Gives up
/// (returns what it has) after `limit`.
std::vector<read_message> read_topic(const std::string& bootstrap, const std::string& topic,
                                     bool read_committed = false,
                                     std::chrono::milliseconds limit = std::chrono::seconds(20));

} // namespace keel::kafka::testing
