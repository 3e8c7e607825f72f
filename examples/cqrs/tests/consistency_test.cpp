// The demo's verdict is only as good as its check: these cases build a
// consistent pair of databases and topic, then break one thing at a time
// and expect the check to name it.
#include <check/consistency.hpp>
#include <common/schema.hpp>
#include <domain/order.hpp>
#include <gtest/gtest.h>
#include <harness/kafka/mock_cluster.hpp>
#include <harness/pg/cluster.hpp>
#include <librdkafka/rdkafka.h>

#include <memory>
#include <string>
#include <vector>

namespace {

using keel::test::pg::cluster;

bool mentions(const cqrs::check::report& r, const std::string& text) {
    for (const auto& p : r.problems)
        if (p.find(text) != std::string::npos)
            return true;
    return false;
}

std::string quoted(const std::string& s) {
    std::string out = "'";
    for (char c : s)
        out += c == '\'' ? std::string("''") : std::string(1, c);
    return out + "'";
}

class consistency_check : public ::testing::Test {
protected:
    static void SetUpTestSuite() { server_ = new cluster(); }
    static void TearDownTestSuite() {
        delete server_;
        server_ = nullptr;
    }

    void SetUp() override {
        const std::string suffix = std::to_string(++databases_);
        events_db_ = "events_" + suffix;
        read_db_ = "read_" + suffix;
        server_->exec("CREATE DATABASE " + events_db_);
        server_->exec("CREATE DATABASE " + read_db_);
        for (auto sql : cqrs::schema::event_store)
            events().exec(std::string(sql));
        for (auto sql : cqrs::schema::read_model)
            read().exec(std::string(sql));

        // Two orders as the pipeline would leave them: events (and their
        // outbox rows, published), projected and recorded as applied.
        const std::vector<cqrs::event> stream = {
            {"o-1", 1, "OrderCreated", {{"customer", "c-1"}}},
            {"o-1", 2, "ItemAdded", {{"sku", "a"}, {"quantity", 2}, {"price_cents", 150}}},
            {"o-1", 3, "OrderPaid", {{"payment_id", "pay-1"}}},
            {"o-2", 1, "OrderCreated", {{"customer", "c-2"}}},
        };
        for (const auto& e : stream)
            append(e);
        project("o-1", {stream[0], stream[1], stream[2]});
        project("o-2", {stream[3]});
        stream_ = stream;
    }

    keel::test::pg::session& events() {
        if (!events_)
            events_ =
                std::make_unique<keel::test::pg::session>(server_->dsn() + " dbname=" + events_db_);
        return *events_;
    }
    keel::test::pg::session& read() {
        if (!read_)
            read_ =
                std::make_unique<keel::test::pg::session>(server_->dsn() + " dbname=" + read_db_);
        return *read_;
    }

    void append(const cqrs::event& e) {
        events().exec("INSERT INTO events (order_id, version, type, data) VALUES (" +
                      quoted(e.order_id) + ", " + std::to_string(e.version) + ", " +
                      quoted(e.type) + ", " + quoted(e.data.dump()) + ")");
    }

    void project(const std::string& order_id, const std::vector<cqrs::event>& applied) {
        const auto state = cqrs::replay(applied);
        read().exec("INSERT INTO order_view (order_id, customer, status, total_cents, item_count, "
                    "payment_id, cancel_reason, version, state) VALUES (" +
                    quoted(order_id) + ", " + quoted(state.customer) + ", " +
                    quoted(std::string(cqrs::to_string(state.status))) + ", " +
                    std::to_string(state.total_cents) + ", " + std::to_string(state.items.size()) +
                    ", " + quoted(state.payment_id) + ", " + quoted(state.cancel_reason) + ", " +
                    std::to_string(state.version) + ", " + quoted(cqrs::to_json(state).dump()) +
                    ")");
        for (const auto& e : applied)
            // Fixed instants, not the clock: each event applied exactly
            // 20 ms after it was created.
            read().exec("INSERT INTO applied_events (order_id, version, event_created_at, "
                        "applied_at, applied_by) VALUES (" +
                        quoted(e.order_id) + ", " + std::to_string(e.version) +
                        ", '2026-01-01 00:00:00+00', '2026-01-01 00:00:00.020+00', 'test')");
    }

    cqrs::check::sources sources() const {
        return {server_->dsn() + " dbname=" + events_db_, server_->dsn() + " dbname=" + read_db_,
                bootstrap_, "orders.events"};
    }

    static cluster* server_;
    static int databases_;
    std::string events_db_, read_db_, bootstrap_;
    std::vector<cqrs::event> stream_;
    std::unique_ptr<keel::test::pg::session> events_, read_;
};

cluster* consistency_check::server_ = nullptr;
int consistency_check::databases_ = 0;

TEST_F(consistency_check, a_consistent_pipeline_passes_with_its_counts_and_lag) {
    const auto r = cqrs::check::run(sources());
    EXPECT_TRUE(r.ok()) << r.problems.front();
    EXPECT_EQ(r.orders, 2u);
    EXPECT_EQ(r.events, 4u);
    EXPECT_EQ(r.view_rows, 2u);
    EXPECT_EQ(r.applied, 4u);
    EXPECT_EQ(r.lag_p50.count(), 20'000);
    EXPECT_EQ(r.lag_p99.count(), 20'000);
    EXPECT_EQ(r.lag_max.count(), 20'000);
}

TEST_F(consistency_check, a_view_that_differs_from_the_replay_is_shown_with_both_states) {
    read().exec("UPDATE order_view SET state = jsonb_set(state, '{total_cents}', '999') "
                "WHERE order_id = 'o-1'");
    const auto r = cqrs::check::run(sources());
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(mentions(r, "order o-1 differs")) << r.problems.front();
    EXPECT_TRUE(mentions(r, "\"total_cents\":999"));
    EXPECT_TRUE(mentions(r, "\"total_cents\":300"));
}

TEST_F(consistency_check, an_event_never_applied_and_a_missing_order_are_named) {
    append({"o-2", 2, "OrderCancelled", {{"reason", "changed mind"}}});
    append({"o-3", 1, "OrderCreated", {{"customer", "c-3"}}});
    const auto r = cqrs::check::run(sources());
    EXPECT_TRUE(mentions(r, "o-2 v2 was never applied"));
    EXPECT_TRUE(mentions(r, "order o-2 differs"));
    EXPECT_TRUE(mentions(r, "order o-3 (v1) is missing"));
}

TEST_F(consistency_check, a_gap_in_the_event_store_is_reported) {
    events().exec("DELETE FROM events WHERE order_id = 'o-1' AND version = 2");
    const auto r = cqrs::check::run(sources());
    EXPECT_TRUE(mentions(r, "order o-1 does not replay"));
}

TEST_F(consistency_check, progress_counts_events_applied_and_unpublished_outbox_rows) {
    events().exec("INSERT INTO outbox (order_id, version, payload, created_at) "
                  "VALUES ('o-2', 1, '{}', now())");
    const auto p = cqrs::check::measure(sources());
    EXPECT_EQ(p.events, 4u);
    EXPECT_EQ(p.applied, 4u);
    EXPECT_EQ(p.outbox_pending, 1u);
}

TEST_F(consistency_check, a_message_published_twice_or_never_is_reported) {
    keel::kafka::testing::mock_cluster kafka;
    kafka.create_topic("orders.events", 2);
    bootstrap_ = kafka.bootstrap();

    char why[256];
    auto* conf = rd_kafka_conf_new();
    ASSERT_EQ(rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap_.c_str(), why, sizeof why),
              RD_KAFKA_CONF_OK);
    std::unique_ptr<rd_kafka_t, decltype(&rd_kafka_destroy)> producer(
        rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why), &rd_kafka_destroy);
    ASSERT_TRUE(producer) << why;
    auto publish = [&](const cqrs::event& e) {
        const std::string value = cqrs::to_json(e).dump();
        ASSERT_EQ(rd_kafka_producev(producer.get(), RD_KAFKA_V_TOPIC("orders.events"),
                                    RD_KAFKA_V_KEY(e.order_id.data(), e.order_id.size()),
                                    RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                  RD_KAFKA_RESP_ERR_NO_ERROR);
    };
    for (const auto& e : stream_)
        publish(e);
    ASSERT_EQ(rd_kafka_flush(producer.get(), 10000), RD_KAFKA_RESP_ERR_NO_ERROR);

    auto r = cqrs::check::run(sources());
    EXPECT_TRUE(r.ok()) << r.problems.front();
    EXPECT_EQ(r.published, 4u);
    EXPECT_EQ(r.duplicates, 0u);

    publish(stream_[1]);                                     // o-1 v2 again
    append({"o-2", 2, "OrderCancelled", {{"reason", "x"}}}); // never published
    ASSERT_EQ(rd_kafka_flush(producer.get(), 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    r = cqrs::check::run(sources());
    EXPECT_EQ(r.duplicates, 1u);
    EXPECT_EQ(r.unpublished, 1u);
    EXPECT_TRUE(mentions(r, "kafka: o-1 v2 published more than once"));
    EXPECT_TRUE(mentions(r, "kafka: o-2 v2 was never published"));
}

} // namespace
