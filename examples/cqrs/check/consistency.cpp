#include "consistency.hpp"

#include <domain/order.hpp>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string_view>
#include <utility>

namespace cqrs::check {

namespace {

using connection_ptr = std::unique_ptr<PGconn, decltype(&PQfinish)>;
using result_ptr = std::unique_ptr<PGresult, decltype(&PQclear)>;

/// A blocking connection; `what` names the database in errors.
connection_ptr connect(const std::string& dsn, std::string_view what) {
    connection_ptr c(PQconnectdb(dsn.c_str()), &PQfinish);
    if (!c || PQstatus(c.get()) != CONNECTION_OK)
        throw std::runtime_error(std::string(what) + ": cannot connect: " +
                                 (c ? PQerrorMessage(c.get()) : "out of memory"));
    return c;
}

result_ptr query(PGconn* c, const char* sql, std::string_view what) {
    result_ptr r(PQexec(c, sql), &PQclear);
    if (!r || PQresultStatus(r.get()) != PGRES_TUPLES_OK)
        throw std::runtime_error(std::string(what) + ": " + sql + ": " + PQerrorMessage(c));
    return r;
}

std::size_t count(PGconn* c, const char* sql, std::string_view what) {
    const auto r = query(c, sql, what);
    return static_cast<std::size_t>(std::stoull(PQgetvalue(r.get(), 0, 0)));
}

using event_key = std::pair<std::string, int>; // (order_id, version)

std::string describe(const event_key& k) {
    return k.first + " v" + std::to_string(k.second);
}

std::chrono::microseconds percentile(std::vector<std::int64_t>& sorted, double p) {
    if (sorted.empty())
        return {};
    const auto at = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
    return std::chrono::microseconds(sorted[std::min(at, sorted.size() - 1)]);
}

/// Every (order_id, version) on the topic, read_committed, from the start of
/// each partition to its end as it is now; repeats counted in `duplicates`,
/// an order's versions out of order on its partition reported.
std::map<event_key, int> read_topic(const sources& from, std::vector<std::string>& problems) {
    char why[512];
    auto* conf = rd_kafka_conf_new();
    const std::pair<const char*, std::string> settings[] = {
        {"bootstrap.servers", from.kafka_bootstrap},
        {"group.id", "cqrs-consistency-check"},
        {"enable.auto.commit", "false"},
        {"enable.partition.eof", "true"},
        {"auto.offset.reset", "earliest"},
        {"isolation.level", "read_committed"},
    };
    for (const auto& [name, value] : settings)
        if (rd_kafka_conf_set(conf, name, value.c_str(), why, sizeof why) != RD_KAFKA_CONF_OK) {
            rd_kafka_conf_destroy(conf);
            throw std::runtime_error(std::string("kafka: ") + name + ": " + why);
        }
    std::unique_ptr<rd_kafka_t, decltype(&rd_kafka_destroy)> consumer(
        rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof why), &rd_kafka_destroy);
    if (!consumer) {
        rd_kafka_conf_destroy(conf);
        throw std::runtime_error(std::string("kafka: ") + why);
    }

    const rd_kafka_metadata_t* metadata = nullptr;
    std::unique_ptr<rd_kafka_topic_t, decltype(&rd_kafka_topic_destroy)> topic(
        rd_kafka_topic_new(consumer.get(), from.topic.c_str(), nullptr), &rd_kafka_topic_destroy);
    if (auto err = rd_kafka_metadata(consumer.get(), 0, topic.get(), &metadata, 10000))
        throw std::runtime_error("kafka: metadata of " + from.topic + ": " + rd_kafka_err2str(err));
    int partitions = 0;
    if (metadata->topic_cnt == 1)
        partitions = metadata->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(metadata);
    if (partitions == 0)
        throw std::runtime_error("kafka: topic " + from.topic + " has no partitions");

    std::unique_ptr<rd_kafka_topic_partition_list_t,
                    decltype(&rd_kafka_topic_partition_list_destroy)>
        assignment(rd_kafka_topic_partition_list_new(partitions),
                   &rd_kafka_topic_partition_list_destroy);
    for (int p = 0; p < partitions; ++p)
        rd_kafka_topic_partition_list_add(assignment.get(), from.topic.c_str(), p)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    if (auto err = rd_kafka_assign(consumer.get(), assignment.get()))
        throw std::runtime_error("kafka: assign " + from.topic + ": " + rd_kafka_err2str(err));

    std::map<event_key, int> seen;
    std::map<std::string, int> last_version; // per order, in partition order
    std::set<int> at_end;
    int idle_polls = 0;
    while (static_cast<int>(at_end.size()) < partitions) {
        rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer.get(), 500);
        if (!m) {
            if (++idle_polls > 60) // 30 s without a message or an end of partition
                throw std::runtime_error("kafka: reading " + from.topic + " stalled");
            continue;
        }
        idle_polls = 0;
        std::unique_ptr<rd_kafka_message_t, decltype(&rd_kafka_message_destroy)> owned(
            m, &rd_kafka_message_destroy);
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            at_end.insert(m->partition);
            continue;
        }
        if (m->err)
            throw std::runtime_error("kafka: reading " + from.topic + ": " +
                                     rd_kafka_message_errstr(m));
        at_end.erase(m->partition);
        try {
            const auto e = event_from_json(nlohmann::json::parse(
                std::string_view(static_cast<const char*>(m->payload), m->len)));
            const event_key key{e.order_id, e.version};
            if (++seen[key] == 2)
                problems.push_back("kafka: " + describe(key) + " published more than once");
            int& last = last_version[e.order_id];
            if (e.version <= last && seen[key] == 1)
                problems.push_back("kafka: " + describe(key) + " published after v" +
                                   std::to_string(last));
            last = std::max(last, e.version);
        } catch (const std::exception& error) {
            problems.push_back("kafka: partition " + std::to_string(m->partition) + " offset " +
                               std::to_string(m->offset) + ": not an event: " + error.what());
        }
    }
    rd_kafka_consumer_close(consumer.get());
    return seen;
}

} // namespace

progress measure(const sources& from) {
    progress p;
    const auto store = connect(from.event_store_dsn, "event store");
    p.events = count(store.get(), "SELECT count(*) FROM events", "event store");
    p.outbox_pending = count(store.get(),
                             "SELECT count(*) FROM outbox o LEFT JOIN relay_batches b "
                             "ON b.id = o.batch_id WHERE b.state IS DISTINCT FROM 'published'",
                             "event store");
    const auto read = connect(from.read_model_dsn, "read model");
    p.applied = count(read.get(), "SELECT count(*) FROM applied_events", "read model");
    return p;
}

report run(const sources& from) {
    report out;
    auto& problems = out.problems;

    // The event store, replayed order by order: the truth.
    std::map<std::string, std::vector<event>> streams;
    std::set<event_key> events;
    {
        const auto store = connect(from.event_store_dsn, "event store");
        const auto r = query(store.get(),
                             "SELECT order_id, version, type, data::text FROM events "
                             "ORDER BY order_id, version",
                             "event store");
        for (int i = 0, n = PQntuples(r.get()); i < n; ++i) {
            event e{PQgetvalue(r.get(), i, 0), std::stoi(PQgetvalue(r.get(), i, 1)),
                    PQgetvalue(r.get(), i, 2), nlohmann::json::parse(PQgetvalue(r.get(), i, 3))};
            events.emplace(e.order_id, e.version);
            streams[e.order_id].push_back(std::move(e));
        }
    }
    out.orders = streams.size();
    out.events = events.size();
    std::map<std::string, order_state> truth;
    for (const auto& [order_id, stream] : streams) {
        try {
            truth.emplace(order_id, replay(stream));
        } catch (const std::exception& error) {
            problems.push_back("event store: order " + order_id +
                               " does not replay: " + error.what());
        }
    }

    // The read model: every row equal to its order's replay, every event
    // applied once (applied_events' primary key refuses a second time; a
    // row applied twice would also show as a state that differs).
    std::vector<std::int64_t> lags;
    {
        const auto read = connect(from.read_model_dsn, "read model");
        const auto views =
            query(read.get(), "SELECT order_id, state::text FROM order_view", "read model");
        out.view_rows = static_cast<std::size_t>(PQntuples(views.get()));
        std::set<std::string> viewed;
        for (int i = 0, n = PQntuples(views.get()); i < n; ++i) {
            const std::string order_id = PQgetvalue(views.get(), i, 0);
            viewed.insert(order_id);
            const auto expected = truth.find(order_id);
            if (expected == truth.end()) {
                problems.push_back("read model: order " + order_id + " is not in the event store");
                continue;
            }
            order_state actual;
            try {
                actual = state_from_json(nlohmann::json::parse(PQgetvalue(views.get(), i, 1)));
            } catch (const std::exception& error) {
                problems.push_back("read model: order " + order_id +
                                   ": unreadable state: " + error.what());
                continue;
            }
            if (!(actual == expected->second))
                problems.push_back("read model: order " + order_id +
                                   " differs\n    read model: " + to_json(actual).dump() +
                                   "\n    replayed:   " + to_json(expected->second).dump());
        }
        for (const auto& [order_id, state] : truth)
            if (!viewed.count(order_id))
                problems.push_back("read model: order " + order_id + " (v" +
                                   std::to_string(state.version) + ") is missing");

        const auto applied =
            query(read.get(),
                  "SELECT order_id, version, "
                  "(extract(epoch FROM applied_at - event_created_at) * 1000000)::bigint "
                  "FROM applied_events",
                  "read model");
        out.applied = static_cast<std::size_t>(PQntuples(applied.get()));
        std::set<event_key> applied_keys;
        for (int i = 0, n = PQntuples(applied.get()); i < n; ++i) {
            event_key key{PQgetvalue(applied.get(), i, 0),
                          std::stoi(PQgetvalue(applied.get(), i, 1))};
            lags.push_back(std::stoll(PQgetvalue(applied.get(), i, 2)));
            if (!events.count(key))
                problems.push_back("read model: applied " + describe(key) +
                                   ", which is not in the event store");
            applied_keys.insert(std::move(key));
        }
        for (const auto& key : events)
            if (!applied_keys.count(key))
                problems.push_back("read model: " + describe(key) + " was never applied");
    }
    std::sort(lags.begin(), lags.end());
    out.lag_p50 = percentile(lags, 0.50);
    out.lag_p99 = percentile(lags, 0.99);
    out.lag_max =
        lags.empty() ? std::chrono::microseconds{} : std::chrono::microseconds(lags.back());

    // The topic: every event published exactly once.
    if (!from.kafka_bootstrap.empty()) {
        const auto seen = read_topic(from, problems);
        for (const auto& [key, times] : seen) {
            out.published += static_cast<std::size_t>(times);
            out.duplicates += static_cast<std::size_t>(times - 1);
            if (!events.count(key))
                problems.push_back("kafka: " + describe(key) + " is not in the event store");
        }
        for (const auto& key : events)
            if (!seen.count(key)) {
                ++out.unpublished;
                problems.push_back("kafka: " + describe(key) + " was never published");
            }
    }
    return out;
}

} // namespace cqrs::check
