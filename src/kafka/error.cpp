#include <keel/classified_category.hpp>
#include <keel/fault_injection.hpp>
#include <keel/kafka/error.hpp>

#include <librdkafka/rdkafka.h>

#include <cctype>
#include <optional>
#include <string>

namespace keel::kafka {

namespace {

class kafka_category_impl final : public classified_category {
public:
    const char* name() const noexcept override { return "keel.kafka"; }
    std::string message(int code) const override {
        return std::string(rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(code))) + ": " +
               rd_kafka_err2str(static_cast<rd_kafka_resp_err_t>(code));
    }
    fault_class fault_of(int code) const noexcept override {
        switch (static_cast<rd_kafka_resp_err_t>(code)) {
        case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
        case RD_KAFKA_RESP_ERR__TIMED_OUT:
        case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
        case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
            return fault_class::timeout;
        case RD_KAFKA_RESP_ERR_THROTTLING_QUOTA_EXCEEDED:
            return fault_class::throttled;
        // Local: the connection or the cluster, not the message.
        case RD_KAFKA_RESP_ERR__TRANSPORT:
        case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
        case RD_KAFKA_RESP_ERR__RESOLVE:
        case RD_KAFKA_RESP_ERR__WAIT_COORD:
        case RD_KAFKA_RESP_ERR__QUEUE_FULL:
        case RD_KAFKA_RESP_ERR__PARTITION_EOF:
        // The consumer left the group for polling too slowly; its next poll rejoins.
        case RD_KAFKA_RESP_ERR__MAX_POLL_EXCEEDED:
        // A rebuild purged the message; the new producer can send it.
        case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
        case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
        case RD_KAFKA_RESP_ERR__FATAL:
        // Broker errors the Kafka protocol marks retriable.
        case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
        case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
        case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
        case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
        case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
        case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
        case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
        case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
        case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
        case RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR:
        case RD_KAFKA_RESP_ERR_FENCED_LEADER_EPOCH:
        case RD_KAFKA_RESP_ERR_UNKNOWN_LEADER_EPOCH:
        case RD_KAFKA_RESP_ERR_OFFSET_NOT_AVAILABLE:
        case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
        case RD_KAFKA_RESP_ERR_CONCURRENT_TRANSACTIONS:
        case RD_KAFKA_RESP_ERR_PREFERRED_LEADER_NOT_AVAILABLE:
            return fault_class::transient;
        default:
            // MSG_SIZE_TOO_LARGE, *_AUTHORIZATION_FAILED, _AUTHENTICATION,
            // INVALID_*, _UNKNOWN_TOPIC, _INVALID_ARG ...: the same again.
            return fault_class::permanent;
        }
    }
};

} // namespace

const std::error_category& kafka_category() noexcept {
    return category_instance<kafka_category_impl>();
}

std::error_code make_error_code(int code) noexcept {
    return std::error_code(code, kafka_category());
}

namespace {

// librdkafka's names, lowercase: NOT_LEADER_FOR_PARTITION is
// kafka_not_leader_for_partition; its own (_MSG_TIMED_OUT) may be written
// with or without the leading underscore. A broker name wins a tie.
std::optional<std::error_code> kafka_error_from_name(std::string_view code, std::string& why) {
    const struct rd_kafka_err_desc* descs = nullptr;
    std::size_t count = 0;
    rd_kafka_get_err_descs(&descs, &count);
    std::optional<int> own;
    for (std::size_t i = 0; i < count; ++i) {
        if (!descs[i].name)
            continue;
        std::string lower(descs[i].name);
        for (char& c : lower)
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (lower == code)
            return make_error_code(descs[i].code);
        if (!lower.empty() && lower[0] == '_' && lower.substr(1) == code && !own)
            own = descs[i].code;
    }
    if (own)
        return make_error_code(*own);
    why = "librdkafka has no error named '" + std::string(code) +
          "' (kafka_<name> takes rd_kafka_err2name's names in lowercase, e.g. "
          "kafka_not_leader_for_partition)";
    return std::nullopt;
}

// Linked in with the Kafka category (see keel::http's).
[[maybe_unused]] const bool registered = (register_fault_errors(), true);

} // namespace

void register_fault_errors() {
    register_fault_error_family("kafka_", &kafka_error_from_name);
}

std::error_code fault_error(std::error_code generic) noexcept {
    if (generic == std::errc::connection_refused || generic == std::errc::connection_reset)
        return make_error_code(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT);
    return generic;
}

bool is_fatal(const std::error_code& ec) noexcept {
    return ec.category() == kafka_category() && ec.value() == RD_KAFKA_RESP_ERR__FATAL;
}

} // namespace keel::kafka
