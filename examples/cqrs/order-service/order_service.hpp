// The order service's command handling, on the loop: load the order, decide,
// append; lose a race on a version and decide again on the new state; pay
// through the payment service first. Answers are the contract's HTTP
// replies (examples/cqrs/CONTRACT.md); a dependency that fails throws
// dependency_failure for the HTTP layer to turn into a 503.
#pragma once

#include "commands.hpp"
#include "event_store.hpp"
#include <asio/awaitable.hpp>

#include <optional>
#include <random>
#include <string>

namespace keel::http {
class service;
}

namespace cqrs::orders {

struct reply {
    int status = 500;
    std::string body; ///< JSON
};

class order_service {
public:
    order_service(event_store& store, keel::http::service& payments) noexcept
        : store_(store), payments_(payments) {}

    /// Create, add item, cancel.
    asio::awaitable<reply> execute(parsed_command c);
    /// Charge the order's total (Idempotency-Key pay-{order_id}), then record it.
    asio::awaitable<reply> pay(parsed_command c);
    /// The state replayed from the event store, or 404.
    asio::awaitable<reply> get(std::string order_id);

private:
    /// Decide `what` on the order and append, re-deciding after a lost race.
    /// `loaded`: a state already read for this command (saves a load).
    asio::awaitable<reply> decide_and_append(command what, std::optional<int> expected_version,
                                             std::optional<order_state> loaded);
    /// The payment id for charging `amount_cents` to the order.
    asio::awaitable<std::string> charge(const std::string& order_id, std::int64_t amount_cents);

    event_store& store_;
    keel::http::service& payments_;
    std::minstd_rand jitter_{std::random_device{}()}; // only used on the loop
};

} // namespace cqrs::orders
