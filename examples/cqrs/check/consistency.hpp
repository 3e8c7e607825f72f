// The demo's consistency check: the read model against the event store, and
// the published topic against the outbox. Blocking (libpq, librdkafka): it
// runs once, after the services have been given time to catch up.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

namespace cqrs::check {

struct sources {
    std::string event_store_dsn; ///< libpq conninfo of the write model's database
    std::string read_model_dsn;  ///< ... and of the read model's
    std::string kafka_bootstrap; ///< empty: the topic is not checked
    std::string topic = "orders.events";
};

/// What the read model has caught up to, cheaply (for waiting on it).
struct progress {
    std::size_t events = 0;         ///< rows in the event store
    std::size_t applied = 0;        ///< rows in applied_events
    std::size_t outbox_pending = 0; ///< outbox rows not yet in a published batch
};
/// Throws std::runtime_error naming the database and the server's message.
progress measure(const sources& from);

struct report {
    std::size_t orders = 0;               ///< distinct orders in the event store
    std::size_t events = 0;               ///< events in the event store
    std::size_t view_rows = 0;            ///< rows in order_view
    std::size_t applied = 0;              ///< rows in applied_events
    std::size_t published = 0;            ///< messages on the topic (read_committed)
    std::size_t duplicates = 0;           ///< of them, repeats of an (order_id, version)
    std::size_t unpublished = 0;          ///< events never published
    std::chrono::microseconds lag_p50{0}; ///< event created -> applied to the read model
    std::chrono::microseconds lag_p99{0};
    std::chrono::microseconds lag_max{0};
    /// One line per problem: an order whose view differs from its replay
    /// (both states shown), an event missing from or applied twice to the
    /// read model, a duplicate or missing message on the topic.
    std::vector<std::string> problems;

    bool ok() const noexcept { return problems.empty(); }
};

/// Replays every order of the event store with cqrs::replay and compares it
/// with its order_view row; checks applied_events against the events, and
/// (when kafka_bootstrap is set) every message of the topic against the
/// events. Throws std::runtime_error when a source cannot be read.
report run(const sources& from);

} // namespace cqrs::check
