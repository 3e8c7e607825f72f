// The order service's HTTP bodies, sans I/O: a request body becomes a
// domain command (or a 400 naming the field), a decision becomes the JSON
// the contract fixes (examples/cqrs/CONTRACT.md, "Order service"), and the
// snapshot rule is one function. Tested without a database.
#pragma once

#include "domain/order.hpp"

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace cqrs::orders {

/// A body the service cannot read: 400, the message names the field.
class bad_request : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;
};

/// A command and the version the caller believes the order is at: a command
/// repeated after a lost reply then answers 409 instead of applying twice.
struct parsed_command {
    command what;
    std::optional<int> expected_version;
};

// Each throws bad_request naming the missing or mistyped field. The order id
// of the item, pay and cancel commands comes from the path.
parsed_command parse_create(std::string_view body);
parsed_command parse_add_item(const std::string& order_id, std::string_view body);
/// pay_order without its payment id: the payment service gives it later.
parsed_command parse_pay(const std::string& order_id, std::string_view body);
parsed_command parse_cancel(const std::string& order_id, std::string_view body);

/// Whether appending takes an order from version `before` to `after` across
/// a multiple of `every` (0: never), so the new state is worth a snapshot.
bool snapshot_due(int before, int after, int every) noexcept;

/// The HTTP status of a refusal: 409, 422 or 404.
int status_of(rejection::kind why) noexcept;

// The bodies of the contract's answers.
std::string success_body(const std::string& order_id, int version,
                         const std::vector<event>& events);
std::string refusal_body(const rejection& why, int version);
std::string dependency_body(std::string_view dependency, std::string_view message);
std::string bad_request_body(std::string_view message);

} // namespace cqrs::orders
