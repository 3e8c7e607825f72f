// keel::kafka errors: librdkafka's rd_kafka_resp_err_t as std::error_codes,
// whose category states the fault class of each code (keel::classify).
#pragma once

#include <system_error>

namespace keel::kafka {

/// Error codes whose value is an rd_kafka_resp_err_t (negative values are
/// librdkafka's own, e.g. -192 _MSG_TIMED_OUT; positive ones are the broker's,
/// e.g. 10 MSG_SIZE_TOO_LARGE). The message is rd_kafka_err2str's.
///
/// A keel::classified_category:
/// - timeout: _MSG_TIMED_OUT (librdkafka gave up within message.timeout.ms),
///   _TIMED_OUT, REQUEST_TIMED_OUT;
/// - throttled: THROTTLING_QUOTA_EXCEEDED;
/// - transient: transport and broker errors Kafka marks retriable (leader
///   moves, not enough replicas, coordinator changes, all brokers down),
///   messages purged by a rebuild (_PURGE_QUEUE, _PURGE_INFLIGHT), and _FATAL:
///   the producer that raised it has been rebuilt, so trying again can help;
/// - permanent: everything else, notably message too large, authorization
///   and authentication failures, unknown topics, invalid configuration.
const std::error_category& kafka_category() noexcept;

/// `code` is an rd_kafka_resp_err_t value.
std::error_code make_error_code(int code) noexcept;

/// Registers the `kafka_<...>` names of fault rules and keel-sim scenarios
/// (kafka_not_leader_for_partition: librdkafka's names in lowercase) with
/// keel::fault_error_from_name. Done when this library's errors are linked in; calling it again is
/// harmless.
void register_fault_errors();

/// What a produce reports for the real failure a generic injected error
/// names (keel/fault_injection.hpp): librdkafka reconnects to a broker that
/// refuses or resets the connection on its own, and re-sends; a message
/// whose broker stays out of reach fails only with _MSG_TIMED_OUT (class
/// timeout) once message.timeout.ms has passed. So connection_refused and
/// connection_reset are _MSG_TIMED_OUT (at once, not after the delivery
/// timeout); any other error unchanged. producer::async_call applies it.
std::error_code fault_error(std::error_code generic) noexcept;

/// Whether `ec` is librdkafka's _FATAL: the client instance that reported it
/// can do nothing more. keel's producer rebuilds itself when it sees one.
bool is_fatal(const std::error_code& ec) noexcept;

} // namespace keel::kafka
