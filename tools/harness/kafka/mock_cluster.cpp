#include "harness/kafka/mock_cluster.hpp"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <set>
#include <stdexcept>

namespace keel::kafka::testing {

mock_cluster::mock_cluster(int brokers) {
    // The mock cluster needs a client instance to live in; this one never
    // connects anywhere itself.
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    char why[512];
    rd_kafka_conf_set(conf, "log_level", "2", why, sizeof why);
    host_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
    if (!host_)
        throw std::runtime_error(std::string("mock cluster host: ") + why);
    cluster_ = rd_kafka_mock_cluster_new(host_, brokers);
    if (!cluster_)
        throw std::runtime_error("rd_kafka_mock_cluster_new failed");
}

mock_cluster::~mock_cluster() {
    rd_kafka_mock_cluster_destroy(cluster_);
    rd_kafka_destroy(host_);
}

std::string mock_cluster::bootstrap() const {
    return rd_kafka_mock_cluster_bootstraps(cluster_);
}

void mock_cluster::create_topic(const std::string& topic, int partitions, int replication) {
    if (rd_kafka_mock_topic_create(cluster_, topic.c_str(), partitions, replication))
        throw std::runtime_error("cannot create mock topic " + topic);
}

void mock_cluster::push_request_errors(std::int16_t api_key, const std::vector<int>& errors) {
    std::vector<rd_kafka_resp_err_t> codes;
    for (int e : errors)
        codes.push_back(static_cast<rd_kafka_resp_err_t>(e));
    rd_kafka_mock_push_request_errors_array(cluster_, api_key, codes.size(), codes.data());
}

void mock_cluster::delay_responses(int broker, std::int16_t api_key, int count,
                                   std::chrono::milliseconds rtt) {
    for (int i = 0; i < count; ++i)
        rd_kafka_mock_broker_push_request_error_rtts(cluster_, broker, api_key, 1,
                                                     RD_KAFKA_RESP_ERR_NO_ERROR,
                                                     static_cast<int>(rtt.count()));
}

void mock_cluster::set_leader(const std::string& topic, int partition, int broker) {
    if (rd_kafka_mock_partition_set_leader(cluster_, topic.c_str(), partition, broker))
        throw std::runtime_error("cannot move the leader of " + topic);
}

void mock_cluster::broker_down(int broker) {
    rd_kafka_mock_broker_set_down(cluster_, broker);
}
void mock_cluster::broker_up(int broker) {
    rd_kafka_mock_broker_set_up(cluster_, broker);
}

std::vector<read_message> read_topic(const std::string& bootstrap, const std::string& topic,
                                     bool read_committed, std::chrono::milliseconds limit) {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    char why[512];
    const auto set = [&](const char* name, const char* value) {
        if (rd_kafka_conf_set(conf, name, value, why, sizeof why) != RD_KAFKA_CONF_OK)
            throw std::runtime_error(std::string(name) + ": " + why);
    };
    set("bootstrap.servers", bootstrap.c_str());
    set("group.id", "keel-test-reader");
    set("enable.partition.eof", "true");
    set("enable.auto.commit", "false");
    set("isolation.level", read_committed ? "read_committed" : "read_uncommitted");
    set("log_level", "2");
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof why);
    if (!rk)
        throw std::runtime_error(std::string("reader: ") + why);

    // The partitions, from the cluster's metadata.
    const rd_kafka_metadata_t* md = nullptr;
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
    int partitions = 0;
    if (rd_kafka_metadata(rk, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (md->topic_cnt == 1)
            partitions = md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(rkt);

    std::vector<read_message> out;
    if (partitions > 0) {
        rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
        for (int p = 0; p < partitions; ++p)
            rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset =
                RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_assign(rk, list);
        rd_kafka_topic_partition_list_destroy(list);
        std::set<int> at_end;
        const auto until = std::chrono::steady_clock::now() + limit;
        while (static_cast<int>(at_end.size()) < partitions &&
               std::chrono::steady_clock::now() < until) {
            rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
            if (!m)
                continue;
            if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                at_end.insert(m->partition);
            } else if (!m->err) {
                read_message r;
                if (m->key)
                    r.key.assign(static_cast<const char*>(m->key), m->key_len);
                if (m->payload)
                    r.value.assign(static_cast<const char*>(m->payload), m->len);
                r.partition = m->partition;
                r.offset = m->offset;
                rd_kafka_headers_t* hdrs = nullptr;
                if (!rd_kafka_message_headers(m, &hdrs) && hdrs) {
                    const char* name;
                    const void* value;
                    size_t size;
                    for (size_t i = 0; !rd_kafka_header_get_all(hdrs, i, &name, &value, &size); ++i)
                        r.headers.emplace_back(
                            name, value ? std::string(static_cast<const char*>(value), size) : "");
                }
                out.push_back(std::move(r));
            }
            rd_kafka_message_destroy(m);
        }
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return out;
}

} // namespace keel::kafka::testing
