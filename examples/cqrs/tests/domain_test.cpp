// The order aggregate: decisions, events applied in order only, JSON forms.
#include "domain/order.hpp"
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

namespace cqrs {
namespace {

std::vector<event> accepted(const order_state& s, const command& c) {
    auto decision = decide(s, c);
    if (auto* why = std::get_if<rejection>(&decision))
        ADD_FAILURE() << "refused: " << why->message;
    return std::get<std::vector<event>>(decision);
}

rejection refused(const order_state& s, const command& c) {
    auto decision = decide(s, c);
    if (std::holds_alternative<std::vector<event>>(decision)) {
        ADD_FAILURE() << "accepted";
        return {rejection::kind::invalid, ""};
    }
    return std::get<rejection>(decision);
}

/// Decides and applies a command, the way the order service does.
void run(order_state& s, std::vector<event>& log, const command& c) {
    for (const event& e : accepted(s, c)) {
        apply(s, e);
        log.push_back(e);
    }
}

TEST(cqrs_order, a_paid_order_with_two_lines) {
    order_state s;
    std::vector<event> log;
    run(s, log, create_order{"o-1", "ada"});
    run(s, log, add_item{"o-1", "apple", 2, 150});
    run(s, log, add_item{"o-1", "pear", 1, 99});
    run(s, log, add_item{"o-1", "apple", 3, 150});
    run(s, log, pay_order{"o-1", "pay-7"});

    ASSERT_EQ(log.size(), 5u);
    for (std::size_t i = 0; i < log.size(); ++i) {
        EXPECT_EQ(log[i].version, static_cast<int>(i) + 1);
        EXPECT_EQ(log[i].order_id, "o-1");
    }
    EXPECT_EQ(log[0].type, "OrderCreated");
    EXPECT_EQ(log[4].type, "OrderPaid");
    EXPECT_EQ(log[4].data.at("amount_cents"), 5 * 150 + 99);

    EXPECT_EQ(s.status, order_status::paid);
    EXPECT_EQ(s.customer, "ada");
    EXPECT_EQ(s.items.at("apple").quantity, 5);
    EXPECT_EQ(s.items.at("pear").quantity, 1);
    EXPECT_EQ(s.total_cents, 5 * 150 + 99);
    EXPECT_EQ(s.payment_id, "pay-7");
    EXPECT_EQ(s.version, 5);
    EXPECT_EQ(replay(log), s);
}

TEST(cqrs_order, commands_the_state_refuses) {
    order_state none;
    none.order_id = "o-2";
    EXPECT_EQ(refused(none, add_item{"o-2", "x", 1, 1}).why, rejection::kind::not_found);
    EXPECT_EQ(refused(none, cancel_order{"o-2", "why"}).why, rejection::kind::not_found);
    EXPECT_EQ(refused(none, create_order{"o-2", ""}).why, rejection::kind::invalid);

    order_state s;
    std::vector<event> log;
    run(s, log, create_order{"o-2", "bob"});
    EXPECT_EQ(refused(s, create_order{"o-2", "bob"}).why, rejection::kind::conflict);
    EXPECT_EQ(refused(s, pay_order{"o-2", "p"}).why, rejection::kind::invalid); // no items
    EXPECT_TRUE(check_payable(s).has_value());
    EXPECT_EQ(refused(s, add_item{"o-2", "x", 0, 1}).why, rejection::kind::invalid);
    EXPECT_EQ(refused(s, add_item{"o-2", "x", 1, -1}).why, rejection::kind::invalid);
    run(s, log, add_item{"o-2", "x", 1, 10});
    EXPECT_FALSE(check_payable(s).has_value());
    EXPECT_EQ(refused(s, pay_order{"o-2", ""}).why, rejection::kind::invalid);
    run(s, log, cancel_order{"o-2", "changed my mind"});
    EXPECT_EQ(s.status, order_status::cancelled);
    EXPECT_EQ(refused(s, pay_order{"o-2", "p"}).why, rejection::kind::conflict);
    EXPECT_EQ(refused(s, add_item{"o-2", "x", 1, 1}).why, rejection::kind::conflict);
    EXPECT_EQ(refused(s, cancel_order{"o-2", "again"}).why, rejection::kind::conflict);
    EXPECT_EQ(s.version, 3);
}

TEST(cqrs_order, events_apply_once_and_in_order) {
    order_state s;
    std::vector<event> log;
    run(s, log, create_order{"o-3", "cy"});
    run(s, log, add_item{"o-3", "x", 1, 10});
    order_state again = replay({log[0]});
    EXPECT_THROW(apply(again, log[0]), std::logic_error); // twice
    order_state gap;
    EXPECT_THROW(apply(gap, log[1]), std::logic_error); // version 2 before 1
    event other = log[1];
    other.order_id = "o-4";
    EXPECT_THROW(apply(again, other), std::logic_error); // another order's event
    event unknown = log[1];
    unknown.type = "OrderShipped";
    EXPECT_THROW(apply(again, unknown), std::logic_error);
}

TEST(cqrs_order, replay_from_a_snapshot_equals_the_full_replay) {
    order_state s;
    std::vector<event> log;
    run(s, log, create_order{"o-5", "di"});
    for (int i = 0; i < 10; ++i)
        run(s, log, add_item{"o-5", "sku-" + std::to_string(i % 3), i + 1, 100 + i});
    const order_state snapshot = replay({log.begin(), log.begin() + 6});
    const std::vector<event> rest(log.begin() + 6, log.end());
    EXPECT_EQ(replay(rest, state_from_json(to_json(snapshot))), replay(log));
    EXPECT_EQ(replay(log), s);
}

TEST(cqrs_order, json_forms_round_trip_and_name_bad_fields) {
    order_state s;
    std::vector<event> log;
    run(s, log, create_order{"o-6", "ed"});
    run(s, log, add_item{"o-6", "x", 2, 5});
    run(s, log, cancel_order{"o-6", "late"});
    for (const event& e : log) {
        const event back = event_from_json(nlohmann::json::parse(to_json(e).dump()));
        EXPECT_EQ(back.order_id, e.order_id);
        EXPECT_EQ(back.version, e.version);
        EXPECT_EQ(back.type, e.type);
        EXPECT_EQ(back.data, e.data);
    }
    EXPECT_EQ(state_from_json(nlohmann::json::parse(to_json(s).dump())), s);

    try {
        event_from_json({{"order_id", "o"}, {"type", "OrderCreated"}});
        FAIL() << "accepted an event without a version";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("\"version\""), std::string::npos) << e.what();
    }
    try {
        event_from_json({{"order_id", 7}, {"version", 1}, {"type", "OrderCreated"}});
        FAIL() << "accepted a numeric order_id";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("\"order_id\""), std::string::npos) << e.what();
    }
    EXPECT_THROW(event_from_json({{"order_id", "o"}, {"version", 0}, {"type", "OrderCreated"}}),
                 std::invalid_argument);
}

} // namespace
} // namespace cqrs
