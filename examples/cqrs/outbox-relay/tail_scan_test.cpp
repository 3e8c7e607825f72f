// outbox_ids_of_batch against librdkafka's mock cluster, hosted by the test: what the
// relay's recovery decides from (tail_scan.hpp).
#include "tail_scan.hpp"
#include <gtest/gtest.h>
#include <harness/kafka/mock_cluster.hpp>
#include <librdkafka/rdkafka.h>

#include <cstdint>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>

namespace {

using cqrs::relay::outbox_ids_of_batch;
using cqrs::relay::tail_scan_options;
using keel::kafka::testing::mock_cluster;

constexpr const char* topic = "orders.events";

/// A raw librdkafka producer that writes messages the way the relay does
/// (key = order id, headers relay_batch and outbox_id), transactional when
/// given a transactional.id.
class writer {
public:
    explicit writer(const std::string& bootstrap, const std::string& transactional_id = {}) {
        char why[512];
        rd_kafka_conf_t* conf = rd_kafka_conf_new();
        auto set = [&](const char* name, const std::string& value) {
            if (rd_kafka_conf_set(conf, name, value.c_str(), why, sizeof why) != RD_KAFKA_CONF_OK)
                throw std::runtime_error(std::string(name) + ": " + why);
        };
        set("bootstrap.servers", bootstrap);
        set("log_level", "2");
        if (!transactional_id.empty())
            set("transactional.id", transactional_id);
        rk_.reset(rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why));
        if (!rk_)
            throw std::runtime_error(why);
        if (!transactional_id.empty())
            check(rd_kafka_init_transactions(rk_.get(), 10000));
    }

    void produce(std::int64_t batch, std::int64_t outbox_id, const std::string& order_id) {
        const std::string b = std::to_string(batch), id = std::to_string(outbox_id);
        const std::string value = "{\"order_id\":\"" + order_id + "\"}";
        const rd_kafka_resp_err_t err = rd_kafka_producev(
            rk_.get(), RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(order_id.data(), order_id.size()),
            RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_HEADER("outbox_id", id.data(), static_cast<ssize_t>(id.size())),
            RD_KAFKA_V_HEADER("relay_batch", b.data(), static_cast<ssize_t>(b.size())),
            RD_KAFKA_V_END);
        if (err)
            throw std::runtime_error(rd_kafka_err2str(err));
    }
    /// Rows [first, last] of `batch`, spread over `orders` order ids.
    void produce_rows(std::int64_t batch, std::int64_t first, std::int64_t last, int orders) {
        for (std::int64_t id = first; id <= last; ++id)
            produce(batch, id, "o-" + std::to_string(id % orders));
    }
    void flush() {
        if (rd_kafka_flush(rk_.get(), 10000))
            throw std::runtime_error("flush timed out");
    }
    void begin() { check(rd_kafka_begin_transaction(rk_.get())); }
    void commit() { check(rd_kafka_commit_transaction(rk_.get(), 10000)); }
    void abort() { check(rd_kafka_abort_transaction(rk_.get(), 10000)); }

private:
    static void check(rd_kafka_error_t* error) {
        if (!error)
            return;
        const std::string what = rd_kafka_error_string(error);
        rd_kafka_error_destroy(error);
        throw std::runtime_error(what);
    }
    std::unique_ptr<rd_kafka_t, decltype(&rd_kafka_destroy)> rk_{nullptr, &rd_kafka_destroy};
};

std::set<std::int64_t> ids(std::int64_t first, std::int64_t last) {
    std::set<std::int64_t> out;
    for (std::int64_t id = first; id <= last; ++id)
        out.insert(id);
    return out;
}

tail_scan_options options_for(const mock_cluster& cluster, std::int64_t window = 1000) {
    tail_scan_options o;
    o.bootstrap_servers = cluster.bootstrap();
    o.topic = topic;
    o.window = window;
    return o;
}

TEST(cqrs_tail_scan, finds_every_message_of_the_batch_asked_for_and_no_other) {
    mock_cluster cluster;
    cluster.create_topic(topic, 3);
    writer w(cluster.bootstrap());
    w.produce_rows(1, 1, 12, 5);
    w.produce_rows(2, 13, 20, 5);
    w.flush();

    EXPECT_EQ(outbox_ids_of_batch(options_for(cluster), 2), ids(13, 20));
    EXPECT_EQ(outbox_ids_of_batch(options_for(cluster), 1), ids(1, 12));
    EXPECT_TRUE(outbox_ids_of_batch(options_for(cluster), 3).empty());
}

TEST(cqrs_tail_scan, reads_further_back_until_it_passes_an_earlier_batch) {
    mock_cluster cluster;
    cluster.create_topic(topic, 1);
    writer w(cluster.bootstrap());
    w.produce_rows(1, 1, 3, 1);
    // Batch 2 fills the partition's tail far past the first window, as many
    // retried attempts of one batch would.
    w.produce_rows(2, 4, 60, 1);
    w.flush();

    EXPECT_EQ(outbox_ids_of_batch(options_for(cluster, 2), 2), ids(4, 60));
}

// Why the relay compares outbox ids instead of trusting one message of the
// batch: librdkafka's mock cluster (2.0.2) writes no transaction markers and
// answers a read_committed fetch with the high watermark as its last stable
// offset, so an aborted attempt's messages are seen like committed ones. If
// a librdkafka upgrade makes the mock isolate aborted transactions, this
// test fails: the relay stays correct, and this comment and docs/cqrs.md
// need revising.
TEST(cqrs_tail_scan, the_mock_cluster_shows_an_aborted_attempt_to_read_committed_readers) {
    mock_cluster cluster;
    cluster.create_topic(topic, 2);
    writer w(cluster.bootstrap(), "tail-scan-test");
    w.begin();
    w.produce_rows(1, 1, 6, 3);
    w.commit();
    w.begin();
    w.produce_rows(2, 7, 10, 3); // a relay killed after these left, before 11 and 12
    w.flush();
    w.abort();

    EXPECT_EQ(outbox_ids_of_batch(options_for(cluster), 2), ids(7, 10));
}

TEST(cqrs_tail_scan, an_empty_topic_holds_no_batch) {
    mock_cluster cluster;
    cluster.create_topic(topic, 2);
    EXPECT_TRUE(outbox_ids_of_batch(options_for(cluster), 1).empty());
}

TEST(cqrs_tail_scan, a_cluster_that_does_not_answer_is_an_error_not_an_empty_topic) {
    tail_scan_options o;
    o.bootstrap_servers = "127.0.0.1:1"; // nothing listens on port 1
    o.topic = topic;
    o.timeout = std::chrono::milliseconds(1500);
    try {
        outbox_ids_of_batch(o, 1);
        FAIL() << "expected an error";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("metadata of orders.events"), std::string::npos)
            << e.what();
    }
}

} // namespace
