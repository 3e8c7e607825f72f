// The write model's storage: an order is its events (common/schema.hpp,
// `events`), read back from its latest snapshot; new events are appended
// together with their outbox rows (and a snapshot now and then) in one
// transaction through the `event-store` dependency.
#pragma once

#include <keel/observer.hpp>

#include "domain/order.hpp"
#include <asio/awaitable.hpp>

#include <functional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

namespace keel::pg {
class service;
}

namespace cqrs::orders {

/// A dependency that did not answer within its policy: 503 naming it.
class dependency_failure : public std::runtime_error {
public:
    dependency_failure(std::string dependency, const std::string& message)
        : std::runtime_error(message), dependency_(std::move(dependency)) {}
    const std::string& dependency() const noexcept { return dependency_; }

private:
    std::string dependency_;
};

/// "what ended the call; last error: what the dependency itself said" --
/// keel ends a call that kept failing with its own timeout code, which alone
/// would hide the refusal or server error behind it.
std::string describe_failure(const std::error_code& ec, const keel::call_report& report,
                             const std::string& detail = {});

enum class append_result {
    appended,
    /// Another writer took one of the versions first (23505): reload and
    /// decide again.
    lost_race,
    /// The connection broke during COMMIT and PostgreSQL says the
    /// transaction did not commit: safe to decide and append again.
    rolled_back,
};

class event_store {
public:
    /// `snapshot_every`: write a snapshot when a version crosses a multiple
    /// of it (0: never).
    /// `log`: for the rare event worth a line (a COMMIT whose answer was lost).
    event_store(keel::pg::service& db, int snapshot_every,
                std::function<void(const std::string&)> log)
        : db_(db), snapshot_every_(snapshot_every), log_(std::move(log)) {}

    /// The order's state: its latest snapshot and the events after it
    /// (status none when it has no events). Throws dependency_failure.
    asio::awaitable<order_state> load(std::string order_id);

    /// Appends `events` (decided on `before`), their outbox rows and a
    /// snapshot when one is due, in one transaction. Throws dependency_failure.
    asio::awaitable<append_result> append(order_state before, std::vector<event> events);

private:
    enum class outcome { committed, aborted, unknown };
    asio::awaitable<outcome> outcome_of(long long txid, const event& first);

    keel::pg::service& db_;
    int snapshot_every_;
    std::function<void(const std::string&)> log_;
};

} // namespace cqrs::orders
