// keel::kafka messages, headers and delivery reports: plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace keel::kafka {

/// Kafka record headers, in order; a name may repeat.
using header_list = std::vector<std::pair<std::string, std::string>>;

/// The value of the last header called `name` (exact match), or nullopt.
std::optional<std::string_view> find_header(const header_list& headers,
                                            std::string_view name) noexcept;

/// librdkafka client properties by their own names ("linger.ms", "acks"),
/// applied in order after keel's defaults.
using property_list = std::vector<std::pair<std::string, std::string>>;

/// Where a produced message was written.
struct delivery {
    std::int32_t partition = -1;
    std::int64_t offset = -1;
};

/// A consumed message, copied out of librdkafka.
struct message {
    std::string topic;
    std::int32_t partition = -1;
    std::int64_t offset = -1;
    std::string key;
    std::string value;
    header_list headers;
    std::int64_t timestamp_ms = -1; ///< -1 when the broker sent none
};

} // namespace keel::kafka
