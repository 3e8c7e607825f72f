#include "tail_scan.hpp"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string_view>
#include <vector>

namespace cqrs::relay {

namespace {

using clock = std::chrono::steady_clock;

struct client_deleter {
    void operator()(rd_kafka_t* rk) const {
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
    }
};
using client = std::unique_ptr<rd_kafka_t, client_deleter>;

[[noreturn]] void fail(const std::string& what) {
    throw std::runtime_error("kafka tail scan: " + what);
}

/// The properties of the dependency a plain consumer can use; the others
/// (linger.ms, message.timeout.ms, ...) are a producer's and would only make
/// librdkafka warn.
bool consumer_property(std::string_view name) {
    for (std::string_view prefix :
         {"security.", "sasl.", "ssl.", "socket.", "reconnect.", "broker.", "client.id",
          "api.version", "topic.metadata", "debug"})
        if (name.substr(0, prefix.size()) == prefix)
            return true;
    return false;
}

client make_client(const tail_scan_options& o) {
    char why[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    auto set = [&](const std::string& name, const std::string& value) {
        if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), why, sizeof why) !=
            RD_KAFKA_CONF_OK) {
            rd_kafka_conf_destroy(conf);
            fail("property " + name + ": " + why);
        }
    };
    set("bootstrap.servers", o.bootstrap_servers);
    // Partitions are assigned by hand and nothing is committed: the group is
    // never joined, but librdkafka wants one for assign().
    set("group.id", "cqrs-outbox-relay.tail-scan");
    set("enable.auto.commit", "false");
    set("enable.auto.offset.store", "false");
    set("isolation.level", "read_committed"); // aborted attempts are not publications
    set("enable.partition.eof", "true");      // how we know a partition's end was reached
    // A fetch at a partition's end waits this long for data before the end
    // is reported; the scan wants the end, not new data.
    set("fetch.wait.max.ms", "20");
    set("log_level", "3");
    for (const auto& [name, value] : o.properties)
        if (consumer_property(name))
            set(name, value);
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof why);
    if (!rk) { // conf is still ours on failure
        rd_kafka_conf_destroy(conf);
        fail(std::string("cannot make a consumer: ") + why);
    }
    return client(rk);
}

int ms_left(clock::time_point deadline) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
    return static_cast<int>(std::clamp<long long>(left, 0, 5000));
}

/// The partition count of the topic; 0 when it does not exist yet.
int partition_count(rd_kafka_t* rk, const std::string& topic, clock::time_point deadline) {
    std::unique_ptr<rd_kafka_topic_t, decltype(&rd_kafka_topic_destroy)> rkt(
        rd_kafka_topic_new(rk, topic.c_str(), nullptr), &rd_kafka_topic_destroy);
    std::string last = "no answer";
    while (clock::now() < deadline) {
        const rd_kafka_metadata_t* md = nullptr;
        const rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt.get(), &md, ms_left(deadline));
        if (err) {
            last = rd_kafka_err2str(err);
            continue;
        }
        std::unique_ptr<const rd_kafka_metadata_t, decltype(&rd_kafka_metadata_destroy)> hold(
            md, &rd_kafka_metadata_destroy);
        if (md->topic_cnt != 1) {
            last = "metadata without the topic";
            continue;
        }
        const rd_kafka_metadata_topic_t& t = md->topics[0];
        if (t.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
            return 0; // never published to
        if (t.err) {
            last = rd_kafka_err2str(t.err);
            continue;
        }
        return t.partition_cnt;
    }
    fail("metadata of " + topic + ": " + last);
}

/// The decimal value of header `name`, nullopt when absent or not a number.
std::optional<std::int64_t> decimal_header(const rd_kafka_message_t* m, const char* name) {
    rd_kafka_headers_t* headers = nullptr;
    if (rd_kafka_message_headers(m, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return std::nullopt;
    const void* value = nullptr;
    std::size_t size = 0;
    if (rd_kafka_header_get_last(headers, name, &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        !value)
        return std::nullopt;
    const char* text = static_cast<const char*>(value);
    std::int64_t out = 0;
    const auto [end, ec] = std::from_chars(text, text + size, out);
    if (ec != std::errc() || end != text + size)
        return std::nullopt; // not ours; the relay writes decimals
    return out;
}

struct partition_scan {
    std::int64_t low = 0;
    std::int64_t high = 0;
    std::int64_t window = 0;
    std::int64_t start = 0;
    bool done = false;
    /// A message of an earlier batch was in the window: everything of the
    /// batch asked for lies after it, so the window reached far enough.
    bool passed_earlier_batch = false;
};

} // namespace

std::set<std::int64_t> outbox_ids_of_batch(const tail_scan_options& o, std::int64_t batch_id) {
    const auto deadline = clock::now() + o.timeout;
    client rk = make_client(o);
    const int partitions = partition_count(rk.get(), o.topic, deadline);

    std::map<std::int32_t, partition_scan> scans;
    for (std::int32_t p = 0; p < partitions; ++p) {
        partition_scan s;
        const rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
            rk.get(), o.topic.c_str(), p, &s.low, &s.high, ms_left(deadline));
        if (err)
            fail("watermarks of " + o.topic + "/" + std::to_string(p) + ": " +
                 rd_kafka_err2str(err));
        if (s.high <= s.low)
            continue; // empty partition: nothing to read
        s.window = std::max<std::int64_t>(o.window, 1);
        scans.emplace(p, s);
    }

    std::set<std::int64_t> found;
    while (!scans.empty()) {
        // (Re)assign the partitions still to read from their window's start.
        std::unique_ptr<rd_kafka_topic_partition_list_t,
                        decltype(&rd_kafka_topic_partition_list_destroy)>
            list(rd_kafka_topic_partition_list_new(static_cast<int>(scans.size())),
                 &rd_kafka_topic_partition_list_destroy);
        for (auto& [p, s] : scans) {
            s.start = std::max(s.low, s.high - s.window);
            s.done = false;
            rd_kafka_topic_partition_list_add(list.get(), o.topic.c_str(), p)->offset = s.start;
        }
        if (const rd_kafka_resp_err_t err = rd_kafka_assign(rk.get(), list.get()))
            fail(std::string("assign: ") + rd_kafka_err2str(err));

        std::size_t remaining = scans.size();
        while (remaining > 0) {
            if (clock::now() >= deadline)
                fail("reading the tail of " + o.topic + " timed out with " +
                     std::to_string(remaining) + " partition(s) unread");
            rd_kafka_message_t* m = rd_kafka_consumer_poll(rk.get(), 100);
            if (!m)
                continue;
            std::unique_ptr<rd_kafka_message_t, decltype(&rd_kafka_message_destroy)> hold(
                m, &rd_kafka_message_destroy);
            if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                auto it = scans.find(m->partition);
                if (it != scans.end() && !it->second.done) {
                    it->second.done = true;
                    --remaining;
                }
                continue;
            }
            if (m->err) {
                // Transport hiccups are retried by librdkafka; give up only
                // on what it cannot recover from.
                char fatal_reason[256];
                if (m->err == RD_KAFKA_RESP_ERR__FATAL ||
                    rd_kafka_fatal_error(rk.get(), fatal_reason, sizeof fatal_reason))
                    fail(std::string("consumer: ") + rd_kafka_message_errstr(m));
                if (m->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE ||
                    m->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED)
                    fail("partition " + std::to_string(m->partition) + ": " +
                         rd_kafka_message_errstr(m));
                continue;
            }
            auto it = scans.find(m->partition);
            if (it == scans.end())
                continue;
            const auto batch = decimal_header(m, "relay_batch");
            if (!batch)
                continue; // not a relay message
            if (*batch < batch_id) {
                it->second.passed_earlier_batch = true;
            } else if (*batch == batch_id) {
                const auto outbox_id = decimal_header(m, "outbox_id");
                if (!outbox_id)
                    fail("a message of batch " + std::to_string(batch_id) + " at " + o.topic + "/" +
                         std::to_string(m->partition) + " offset " + std::to_string(m->offset) +
                         " has no outbox_id header");
                found.insert(*outbox_id);
            }
        }
        rd_kafka_assign(rk.get(), nullptr);

        // A partition whose window did not reach back past the batch is read
        // again further back (re-reading adds nothing twice: ids are a set).
        for (auto it = scans.begin(); it != scans.end();) {
            partition_scan& s = it->second;
            if (s.passed_earlier_batch || s.start <= s.low) {
                it = scans.erase(it);
            } else {
                s.window *= 4;
                ++it;
            }
        }
    }
    return found;
}

} // namespace cqrs::relay
