#include "order_service.hpp"

#include <keel/http/service.hpp>

#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <chrono>
#include <utility>
#include <variant>

namespace cqrs::orders {

namespace {

/// A lost race is decided again this many times, then answered 409.
constexpr int redecisions = 3;

const std::string& order_id_of(const command& c) {
    return std::visit([](const auto& x) -> const std::string& { return x.order_id; }, c);
}

reply refused(const rejection& why, int version) {
    return {status_of(why.why), refusal_body(why, version)};
}

std::optional<reply> version_mismatch(const order_state& s, std::optional<int> expected) {
    if (!expected || *expected == s.version)
        return std::nullopt;
    return refused({rejection::kind::conflict, "expected version " + std::to_string(*expected) +
                                                   ", order " + s.order_id + " is at version " +
                                                   std::to_string(s.version)},
                   s.version);
}

} // namespace

asio::awaitable<reply> order_service::execute(parsed_command c) {
    std::optional<order_state> none;
    co_return co_await decide_and_append(std::move(c.what), c.expected_version, std::move(none));
}

asio::awaitable<reply> order_service::pay(parsed_command c) {
    const std::string order_id = order_id_of(c.what);
    order_state state = co_await store_.load(order_id);
    if (auto mismatch = version_mismatch(state, c.expected_version))
        co_return *mismatch;
    // Refuse before charging: a cancelled or empty order is never charged.
    if (auto why = check_payable(state))
        co_return refused(*why, state.version);
    std::string payment_id = co_await charge(order_id, state.total_cents);
    // Named, not a temporary: g++ 12 destroys a temporary that lives across a
    // co_await twice (a converted pay_order crashed here).
    command what = pay_order{order_id, std::move(payment_id)};
    // Pinned to the version that was charged: OrderPaid records the total,
    // and an item added meanwhile would make it differ from the charge.
    const std::optional<int> charged_version = state.version;
    std::optional<order_state> loaded = std::move(state);
    co_return co_await decide_and_append(std::move(what), charged_version, std::move(loaded));
}

asio::awaitable<reply> order_service::get(std::string order_id) {
    const order_state state = co_await store_.load(order_id);
    if (state.status == order_status::none)
        co_return refused({rejection::kind::not_found, "no order " + order_id}, 0);
    co_return reply{200, to_json(state).dump()};
}

asio::awaitable<reply> order_service::decide_and_append(command what,
                                                        std::optional<int> expected_version,
                                                        std::optional<order_state> loaded) {
    const std::string order_id = order_id_of(what);
    for (int round = 0;; ++round) {
        order_state state;
        if (loaded)
            state = std::move(*loaded);
        else
            state = co_await store_.load(order_id);
        loaded.reset();
        if (auto mismatch = version_mismatch(state, expected_version))
            co_return *mismatch;
        auto decision = decide(state, what);
        if (auto* why = std::get_if<rejection>(&decision))
            co_return refused(*why, state.version);
        auto events = std::get<std::vector<event>>(std::move(decision));
        const int version = events.empty() ? state.version : events.back().version;
        const append_result appended = co_await store_.append(state, events);
        if (appended == append_result::appended)
            co_return reply{std::holds_alternative<create_order>(what) ? 201 : 200,
                            success_body(order_id, version, events)};
        if (appended == append_result::rolled_back && round == redecisions)
            throw dependency_failure("event-store", "the connection broke during COMMIT " +
                                                        std::to_string(redecisions + 1) +
                                                        " times (each rolled back)");
        if (round == redecisions)
            co_return refused({rejection::kind::conflict,
                               "order " + order_id + " kept changing under this command (" +
                                   std::to_string(redecisions + 1) + " tries)"},
                              state.version);
        // Writers that collided on a version would collide again if they all
        // reloaded at once: spread them out a little.
        std::uniform_int_distribution<int> pause_ms(0, 5 * (round + 1));
        asio::steady_timer pause(co_await asio::this_coro::executor,
                                 std::chrono::milliseconds(pause_ms(jitter_)));
        co_await pause.async_wait(asio::use_awaitable);
    }
}

asio::awaitable<std::string> order_service::charge(const std::string& order_id,
                                                   std::int64_t amount_cents) {
    keel::http::request r;
    r.method = "POST";
    r.url = "/payments";
    r.body = nlohmann::json{{"order_id", order_id}, {"amount_cents", amount_cents}}.dump();
    // The key makes the POST safe to repeat (keel then retries it after a
    // timeout or a reset), and the provider charges an order once.
    r.headers = {{"Content-Type", "application/json"}, {"Idempotency-Key", "pay-" + order_id}};

    keel::call_report report;
    auto [ec, response] = co_await payments_.async_send(
        std::move(r), report, asio::experimental::as_tuple(asio::use_awaitable));
    if (ec) {
        // A status error names the status itself; add what the server said.
        std::string detail = response.body.substr(0, 200);
        if (ec.category() != keel::http::status_category() && response.status != 0)
            detail = "HTTP " + std::to_string(response.status);
        throw dependency_failure("payments", describe_failure(ec, report, detail));
    }
    const auto answer = nlohmann::json::parse(response.body, nullptr, false);
    if (answer.is_object())
        if (auto id = answer.find("payment_id");
            id != answer.end() && id->is_string() && !id->get<std::string>().empty())
            co_return id->get<std::string>();
    throw dependency_failure("payments",
                             "HTTP " + std::to_string(response.status) +
                                 " without a payment_id: " + response.body.substr(0, 200));
}

} // namespace cqrs::orders
