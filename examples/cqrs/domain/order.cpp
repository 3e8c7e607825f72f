#include "order.hpp"

#include <stdexcept>
#include <utility>

namespace cqrs {

namespace {

template <class T>
T field(const nlohmann::json& j, const char* name) {
    const auto it = j.find(name);
    if (it == j.end())
        throw std::invalid_argument(std::string("missing field \"") + name + "\"");
    try {
        return it->get<T>();
    } catch (const nlohmann::json::exception&) {
        throw std::invalid_argument(std::string("field \"") + name + "\" has the wrong type");
    }
}

event make_event(const order_state& s, int offset, std::string type, nlohmann::json data) {
    return event{s.order_id, s.version + offset, std::move(type), std::move(data)};
}

rejection refuse(rejection::kind why, std::string message) {
    return rejection{why, std::move(message)};
}

} // namespace

nlohmann::json to_json(const event& e) {
    return {{"order_id", e.order_id}, {"version", e.version}, {"type", e.type}, {"data", e.data}};
}

event event_from_json(const nlohmann::json& j) {
    if (!j.is_object())
        throw std::invalid_argument("an event must be a JSON object");
    event e{field<std::string>(j, "order_id"), field<int>(j, "version"),
            field<std::string>(j, "type"), j.value("data", nlohmann::json::object())};
    if (e.version < 1)
        throw std::invalid_argument("field \"version\" must be at least 1");
    return e;
}

std::string_view to_string(order_status s) noexcept {
    switch (s) {
    case order_status::none:
        return "none";
    case order_status::open:
        return "open";
    case order_status::paid:
        return "paid";
    case order_status::cancelled:
        return "cancelled";
    }
    return "none";
}

std::optional<order_status> status_from_string(std::string_view s) noexcept {
    for (order_status v :
         {order_status::none, order_status::open, order_status::paid, order_status::cancelled})
        if (to_string(v) == s)
            return v;
    return std::nullopt;
}

nlohmann::json to_json(const order_state& s) {
    nlohmann::json items = nlohmann::json::object();
    for (const auto& [sku, item] : s.items)
        items[sku] = {{"quantity", item.quantity}, {"price_cents", item.price_cents}};
    return {{"order_id", s.order_id},           {"customer", s.customer},
            {"status", to_string(s.status)},    {"items", items},
            {"total_cents", s.total_cents},     {"payment_id", s.payment_id},
            {"cancel_reason", s.cancel_reason}, {"version", s.version}};
}

order_state state_from_json(const nlohmann::json& j) {
    order_state s;
    s.order_id = field<std::string>(j, "order_id");
    s.customer = field<std::string>(j, "customer");
    const auto status = status_from_string(field<std::string>(j, "status"));
    if (!status)
        throw std::invalid_argument("field \"status\" is not an order status");
    s.status = *status;
    const auto items = field<nlohmann::json>(j, "items"); // items() must not outlive it
    for (const auto& [sku, item] : items.items())
        s.items[sku] =
            line_item{field<int>(item, "quantity"), field<std::int64_t>(item, "price_cents")};
    s.total_cents = field<std::int64_t>(j, "total_cents");
    s.payment_id = field<std::string>(j, "payment_id");
    s.cancel_reason = field<std::string>(j, "cancel_reason");
    s.version = field<int>(j, "version");
    return s;
}

void apply(order_state& s, const event& e) {
    if (e.version != s.version + 1)
        throw std::logic_error("order " + e.order_id + ": event version " +
                               std::to_string(e.version) + " applied to version " +
                               std::to_string(s.version));
    if (!s.order_id.empty() && e.order_id != s.order_id)
        throw std::logic_error("event of order " + e.order_id + " applied to order " + s.order_id);
    if (e.type == "OrderCreated") {
        s.order_id = e.order_id;
        s.customer = field<std::string>(e.data, "customer");
        s.status = order_status::open;
    } else if (e.type == "ItemAdded") {
        line_item& item = s.items[field<std::string>(e.data, "sku")];
        const int quantity = field<int>(e.data, "quantity");
        item.quantity += quantity;
        item.price_cents = field<std::int64_t>(e.data, "price_cents");
        s.total_cents += quantity * item.price_cents;
    } else if (e.type == "OrderPaid") {
        s.status = order_status::paid;
        s.payment_id = field<std::string>(e.data, "payment_id");
    } else if (e.type == "OrderCancelled") {
        s.status = order_status::cancelled;
        s.cancel_reason = field<std::string>(e.data, "reason");
    } else {
        throw std::logic_error("unknown event type " + e.type);
    }
    s.version = e.version;
}

order_state replay(const std::vector<event>& events, order_state from) {
    for (const event& e : events)
        apply(from, e);
    return from;
}

std::optional<rejection> check_payable(const order_state& s) {
    if (s.status == order_status::none)
        return refuse(rejection::kind::not_found, "no order " + s.order_id);
    if (s.status != order_status::open)
        return refuse(rejection::kind::conflict,
                      "order " + s.order_id + " is " + std::string(to_string(s.status)));
    if (s.items.empty())
        return refuse(rejection::kind::invalid, "order " + s.order_id + " has no items");
    return std::nullopt;
}

std::variant<std::vector<event>, rejection> decide(const order_state& s, const command& c) {
    struct visitor {
        const order_state& s;
        std::variant<std::vector<event>, rejection> operator()(const create_order& c) const {
            if (c.order_id.empty() || c.customer.empty())
                return refuse(rejection::kind::invalid, "order_id and customer are required");
            if (s.status != order_status::none)
                return refuse(rejection::kind::conflict, "order " + c.order_id + " exists");
            order_state fresh;
            fresh.order_id = c.order_id;
            return std::vector<event>{
                make_event(fresh, 1, "OrderCreated", {{"customer", c.customer}})};
        }
        std::variant<std::vector<event>, rejection> operator()(const add_item& c) const {
            if (s.status == order_status::none)
                return refuse(rejection::kind::not_found, "no order " + c.order_id);
            if (s.status != order_status::open)
                return refuse(rejection::kind::conflict,
                              "order " + c.order_id + " is " + std::string(to_string(s.status)));
            if (c.sku.empty() || c.quantity <= 0 || c.price_cents < 0)
                return refuse(rejection::kind::invalid,
                              "an item needs a SKU, a positive quantity and a price >= 0");
            return std::vector<event>{make_event(
                s, 1, "ItemAdded",
                {{"sku", c.sku}, {"quantity", c.quantity}, {"price_cents", c.price_cents}})};
        }
        std::variant<std::vector<event>, rejection> operator()(const pay_order& c) const {
            if (auto why = check_payable(s))
                return *why;
            if (c.payment_id.empty())
                return refuse(rejection::kind::invalid, "a payment id is required");
            return std::vector<event>{
                make_event(s, 1, "OrderPaid",
                           {{"payment_id", c.payment_id}, {"amount_cents", s.total_cents}})};
        }
        std::variant<std::vector<event>, rejection> operator()(const cancel_order& c) const {
            if (s.status == order_status::none)
                return refuse(rejection::kind::not_found, "no order " + c.order_id);
            if (s.status != order_status::open)
                return refuse(rejection::kind::conflict,
                              "order " + c.order_id + " is " + std::string(to_string(s.status)));
            return std::vector<event>{make_event(s, 1, "OrderCancelled", {{"reason", c.reason}})};
        }
    };
    return std::visit(visitor{s}, c);
}

} // namespace cqrs
