// The order aggregate of the CQRS example, sans I/O: commands are decided
// against the state rebuilt from an order's events, and events are applied
// to that state. The write model (order service), the projector (read model)
// and the demo's consistency check all use these two functions, so a read
// model row can be compared with the state replayed from the event store.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace cqrs {

/// One event as it is stored (event store, outbox) and published (Kafka).
struct event {
    std::string order_id;
    int version = 0;     ///< 1 for OrderCreated, +1 for each later event of the order
    std::string type;    ///< OrderCreated, ItemAdded, OrderPaid, OrderCancelled
    nlohmann::json data; ///< the type's fields (see order.cpp)
};

nlohmann::json to_json(const event& e);
/// Throws std::invalid_argument naming the missing or mistyped field.
event event_from_json(const nlohmann::json& j);

enum class order_status { none, open, paid, cancelled };
std::string_view to_string(order_status s) noexcept;
std::optional<order_status> status_from_string(std::string_view s) noexcept;

struct line_item {
    int quantity = 0;
    std::int64_t price_cents = 0; ///< per unit

    bool operator==(const line_item&) const = default;
};

/// What an order is after its events: the write model's state and, row for
/// row, the read model's order_view.
struct order_state {
    std::string order_id;
    std::string customer;
    order_status status = order_status::none;
    std::map<std::string, line_item> items; ///< by SKU; adding an SKU again adds quantity
    std::int64_t total_cents = 0;
    std::string payment_id;
    std::string cancel_reason;
    int version = 0; ///< the last event applied

    bool operator==(const order_state&) const = default;
};

nlohmann::json to_json(const order_state& s);
order_state state_from_json(const nlohmann::json& j);

/// Applies `e` (the next version) to `s`. Throws std::logic_error if `e` is
/// not the next event of this order: events are never applied twice or out
/// of order (the projector checks versions before it calls this).
void apply(order_state& s, const event& e);
/// The state after `events` (in version order), from `from` (a snapshot).
order_state replay(const std::vector<event>& events, order_state from = {});

// ---- commands ----------------------------------------------------------------

struct create_order {
    std::string order_id;
    std::string customer;
};
struct add_item {
    std::string order_id;
    std::string sku;
    int quantity = 0;
    std::int64_t price_cents = 0;
};
/// Paying needs the payment service's answer first: the order service asks
/// for it only when check_payable() passes, then decides with its id.
struct pay_order {
    std::string order_id;
    std::string payment_id;
};
struct cancel_order {
    std::string order_id;
    std::string reason;
};
using command = std::variant<create_order, add_item, pay_order, cancel_order>;

/// Why a command was refused (HTTP 409 or 422 in the order service).
struct rejection {
    enum class kind { conflict, invalid, not_found } why;
    std::string message;
};

/// The events `c` produces on `s`, or why it is refused. Pure: it reads only
/// its arguments.
std::variant<std::vector<event>, rejection> decide(const order_state& s, const command& c);
/// Whether pay_order may be attempted (before calling the payment service).
std::optional<rejection> check_payable(const order_state& s);

} // namespace cqrs
