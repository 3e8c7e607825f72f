// The projector's work on one order event: one read-model transaction that
// applies it to order_view exactly once, whichever replica gets it and however
// often it is delivered. The Kafka side (processor, group) is in main.cpp.
#pragma once

#include <keel/kafka/message.hpp>
#include <keel/pg/service.hpp>

#include "domain/order.hpp"
#include <asio/awaitable.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <system_error>

namespace cqrs::projector {

/// Why an event was not projected. Classified for keel (register_classifier)
/// so the processor's pipeline retries or dead-letters by the class, and the
/// dead letter's headers name the reason.
enum class errc {
    /// Not an event (bad JSON, a missing field, an unknown type, a malformed
    /// created_at_us header): permanent -- dead-lettered.
    bad_event = 1,
    /// An earlier event of the order has not been applied yet: transient --
    /// retried until it has (or dead-lettered once the policy gives up).
    version_gap,
    /// The read model's COMMIT may or may not have happened (the connection
    /// broke while it was on its way). keel::pg will not retry that, but this
    /// transaction is safe to repeat (the version check sees a committed
    /// one), so it is transient here.
    commit_unknown,
};

const std::error_category& error_category() noexcept;
std::error_code make_error_code(errc e) noexcept;
/// Registers the fault classes of error_category() with keel (idempotent).
void register_classifier();

/// One message of the topic, parsed.
struct event_message {
    cqrs::event event;
    /// The created_at_us header; nullopt when the producer sent none (the
    /// broker's timestamp, or the time of projection, stands in).
    std::optional<std::int64_t> created_at_us;
};

/// Throws std::invalid_argument saying what is wrong with `m`.
event_message parse(const keel::kafka::message& m);

enum class outcome { applied, duplicate };

struct projection_result {
    std::error_code error; ///< success, or why the event was not applied
    outcome result = outcome::applied;
    std::string detail; ///< for the log when error is set
};

/// In one `db` transaction (retried by its pipeline): locks the order's row,
/// skips an event already applied, refuses one that comes too early
/// (errc::version_gap), else applies it to order_view and records it in
/// applied_events as applied by `applied_by`. Never throws.
asio::awaitable<projection_result> project(keel::pg::service& db, event_message m,
                                           std::string applied_by);

} // namespace cqrs::projector

template <>
struct std::is_error_code_enum<cqrs::projector::errc> : std::true_type {};
