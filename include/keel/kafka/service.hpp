// keel::kafka::service: one Kafka dependency of the configuration, with its
// pipeline, a producer made from its `connection:` section, and consumers
// for the same cluster.
#pragma once

#include <keel/config/dependency_service.hpp>
#include <keel/kafka/consumer.hpp>
#include <keel/kafka/producer.hpp>

#include <string>
#include <string_view>
#include <tuple>

namespace keel::kafka {

/// What a `kind: kafka` dependency's `connection:` section says (docs/kafka.md):
///
///   connection:
///     bootstrap_servers: "${KAFKA_BOOTSTRAP}"     # host:port[,host:port...]
///     properties:                                 # librdkafka's own names
///       linger.ms: 5
///       message.timeout.ms: 30000
struct connection_settings {
    std::string bootstrap_servers;
    property_list properties;
};

/// The producer's options from the section (docs/kafka.md). Every property
/// is tried on a librdkafka configuration, so an unknown name or a bad value
/// is reported here. Throws config::config_error naming the file, line,
/// column and key of every problem (and of the dependency, when its kind is
/// not kafka).
producer_options options_from(const config::dependency& dependency);

/// A consumer of the same cluster in group `group_id`, as options_from.
consumer_options consumer_options_from(const config::dependency& dependency, std::string group_id);

/// Deprecated (one release): options_from.
[[deprecated("use keel::kafka::options_from")]] producer_options
producer_options_from(const config::dependency& dependency);

/// Deprecated (one release): the section as read; use options_from or
/// consumer_options_from.
[[deprecated("use keel::kafka::options_from or consumer_options_from")]] connection_settings
connection_from(const config::dependency& dependency);

/// `events.async_produce("orders", key, value, token)`: retries, timeouts and
/// metrics from the dependency's entry in the file. Policy reloads apply to
/// the calls that start afterwards; the connection section is read once.
class service : public config::dependency_service<producer> {
public:
    /// Throws std::out_of_range for an unknown dependency, config::config_error
    /// for a bad connection section.
    service(executor_type executor, config::registry& policies, std::string_view dependency);

    /// Deprecated (one release): client().
    [[deprecated("use client()")]] producer& kafka_producer() noexcept { return client(); }
    const connection_settings& connection() const noexcept { return connection_; }

    /// A consumer of the same cluster in group `group_id`.
    consumer_options consumer_options_for(std::string group_id) const;

    /// producer::async_call through the dependency's pipeline: the same
    /// completion signature (`void(std::error_code, delivery)`), errors,
    /// cancellation (terminal, partial and total, into the attempt's wait)
    /// and leftovers (a message that may still be delivered). The service
    /// must outlive the call; the message is moved in.
    ///
    /// `tail`: `[call_report& report,] [token]`. A report (which must outlive
    /// the call) says how it went: the attempts, and in last_operation_error
    /// the last error the broker or librdkafka gave, which a deadline that
    /// ended the call would otherwise hide.
    template <class... Tail>
    auto async_produce(std::string topic, std::string key, std::string value,
                       header_list headers = {}, Tail&&... tail) {
        return call(std::forward_as_tuple(std::move(topic), std::move(key), std::move(value),
                                          std::move(headers)),
                    std::forward<Tail>(tail)...);
    }

    /// Deprecated (one release): async_produce.
    template <class... Tail>
    [[deprecated("use async_produce")]] auto
    async_publish(std::string topic, std::string key, std::string value, header_list headers = {},
                  Tail&&... tail) {
        return async_produce(std::move(topic), std::move(key), std::move(value), std::move(headers),
                             std::forward<Tail>(tail)...);
    }

private:
    connection_settings connection_;
};

} // namespace keel::kafka
