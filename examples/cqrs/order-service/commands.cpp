#include "commands.hpp"

#include <cstdint>
#include <limits>

namespace cqrs::orders {

namespace {

using nlohmann::json;

json parse_object(std::string_view body) {
    // An empty body is an empty object: `POST /orders/{id}/pay` needs none.
    if (body.find_first_not_of(" \t\r\n") == std::string_view::npos)
        return json::object();
    json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded())
        throw bad_request("the body is not JSON");
    if (!j.is_object())
        throw bad_request("the body must be a JSON object");
    return j;
}

const json& require(const json& j, const char* name) {
    const auto it = j.find(name);
    if (it == j.end() || it->is_null())
        throw bad_request(std::string("missing field \"") + name + "\"");
    return *it;
}

std::string string_field(const json& j, const char* name) {
    const json& v = require(j, name);
    if (!v.is_string())
        throw bad_request(std::string("field \"") + name + "\" must be a string");
    return v.get<std::string>();
}

// Strict: 2.5 or "2" is a client's mistake, not a quantity of 2.
std::int64_t integer(const json& v, const char* name, std::int64_t min, std::int64_t max) {
    if (!v.is_number_integer())
        throw bad_request(std::string("field \"") + name + "\" must be an integer");
    if (v.is_number_unsigned() &&
        v.get<std::uint64_t>() >
            static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        throw bad_request(std::string("field \"") + name + "\" is out of range");
    const auto value = v.get<std::int64_t>();
    if (value < min || value > max)
        throw bad_request(std::string("field \"") + name + "\" is out of range");
    return value;
}

std::int64_t integer_field(const json& j, const char* name, std::int64_t min, std::int64_t max) {
    return integer(require(j, name), name, min, max);
}

std::optional<int> expected_version(const json& j) {
    const auto it = j.find("expected_version");
    if (it == j.end() || it->is_null())
        return std::nullopt;
    return static_cast<int>(integer(*it, "expected_version", 0, std::numeric_limits<int>::max()));
}

constexpr std::int64_t int_max = std::numeric_limits<int>::max();

} // namespace

parsed_command parse_create(std::string_view body) {
    const json j = parse_object(body);
    return {create_order{string_field(j, "order_id"), string_field(j, "customer")},
            expected_version(j)};
}

parsed_command parse_add_item(const std::string& order_id, std::string_view body) {
    const json j = parse_object(body);
    // Range checks stop at the type's bounds; the domain refuses a quantity
    // of 0 or a negative price with its own 422.
    return {add_item{order_id, string_field(j, "sku"),
                     static_cast<int>(integer_field(j, "quantity", -int_max, int_max)),
                     integer_field(j, "price_cents", std::numeric_limits<std::int64_t>::min(),
                                   std::numeric_limits<std::int64_t>::max())},
            expected_version(j)};
}

parsed_command parse_pay(const std::string& order_id, std::string_view body) {
    const json j = parse_object(body);
    return {pay_order{order_id, {}}, expected_version(j)};
}

parsed_command parse_cancel(const std::string& order_id, std::string_view body) {
    const json j = parse_object(body);
    return {cancel_order{order_id, string_field(j, "reason")}, expected_version(j)};
}

bool snapshot_due(int before, int after, int every) noexcept {
    return every > 0 && after > before && after / every > before / every;
}

int status_of(rejection::kind why) noexcept {
    switch (why) {
    case rejection::kind::conflict:
        return 409;
    case rejection::kind::invalid:
        return 422;
    case rejection::kind::not_found:
        return 404;
    }
    return 409;
}

std::string success_body(const std::string& order_id, int version,
                         const std::vector<event>& events) {
    json list = json::array();
    for (const event& e : events)
        list.push_back(to_json(e));
    return json{{"order_id", order_id}, {"version", version}, {"events", std::move(list)}}.dump();
}

std::string refusal_body(const rejection& why, int version) {
    const char* name = why.why == rejection::kind::conflict  ? "conflict"
                       : why.why == rejection::kind::invalid ? "invalid"
                                                             : "not_found";
    return json{{"error", name}, {"message", why.message}, {"version", version}}.dump();
}

std::string dependency_body(std::string_view dependency, std::string_view message) {
    // error_handler_t::replace: a server message in another encoding must not
    // turn a 503 into a 500.
    return json{{"error", "dependency"}, {"dependency", dependency}, {"message", message}}.dump(
        -1, ' ', false, json::error_handler_t::replace);
}

std::string bad_request_body(std::string_view message) {
    return json{{"error", "bad_request"}, {"message", message}}.dump(
        -1, ' ', false, json::error_handler_t::replace);
}

} // namespace cqrs::orders
