// The order service's request bodies and answers, without a database.
#include "commands.hpp"
#include <gtest/gtest.h>

#include <string>
#include <variant>

namespace cqrs::orders {
namespace {

std::string bad_request_message(auto parse) {
    try {
        parse();
    } catch (const bad_request& e) {
        return e.what();
    }
    ADD_FAILURE() << "accepted";
    return {};
}

TEST(cqrs_order_commands, create_reads_its_fields_and_the_expected_version) {
    const auto c = parse_create(R"({"order_id":"o-1","customer":"c-1","expected_version":0})");
    const auto& create = std::get<create_order>(c.what);
    EXPECT_EQ(create.order_id, "o-1");
    EXPECT_EQ(create.customer, "c-1");
    EXPECT_EQ(c.expected_version, 0);
}

TEST(cqrs_order_commands, add_item_takes_the_order_from_the_path) {
    const auto c = parse_add_item("o-1", R"({"sku":"a","quantity":2,"price_cents":150})");
    const auto& item = std::get<add_item>(c.what);
    EXPECT_EQ(item.order_id, "o-1");
    EXPECT_EQ(item.sku, "a");
    EXPECT_EQ(item.quantity, 2);
    EXPECT_EQ(item.price_cents, 150);
    EXPECT_FALSE(c.expected_version);
}

TEST(cqrs_order_commands, a_missing_or_mistyped_field_is_named) {
    EXPECT_EQ(bad_request_message([] { parse_create(R"({"order_id":"o-1"})"); }),
              "missing field \"customer\"");
    EXPECT_EQ(bad_request_message(
                  [] { parse_add_item("o", R"({"sku":"a","quantity":1.5,"price_cents":1})"); }),
              "field \"quantity\" must be an integer");
    EXPECT_EQ(bad_request_message(
                  [] { parse_add_item("o", R"({"sku":"a","quantity":"2","price_cents":1})"); }),
              "field \"quantity\" must be an integer");
    EXPECT_EQ(bad_request_message([] { parse_cancel("o", R"({"reason":7})"); }),
              "field \"reason\" must be a string");
    EXPECT_EQ(bad_request_message([] { parse_pay("o", R"({"expected_version":-1})"); }),
              "field \"expected_version\" is out of range");
    EXPECT_EQ(bad_request_message(
                  [] { parse_add_item("o", R"({"sku":"a","quantity":1e10,"price_cents":1})"); }),
              "field \"quantity\" must be an integer");
    EXPECT_EQ(bad_request_message([] {
                  parse_add_item("o", R"({"sku":"a","quantity":4294967296,"price_cents":1})");
              }),
              "field \"quantity\" is out of range");
}

TEST(cqrs_order_commands, bad_json_is_a_bad_request) {
    EXPECT_EQ(bad_request_message([] { parse_create("{"); }), "the body is not JSON");
    EXPECT_EQ(bad_request_message([] { parse_create("[1]"); }), "the body must be a JSON object");
}

TEST(cqrs_order_commands, pay_takes_an_empty_body) {
    EXPECT_FALSE(parse_pay("o", "").expected_version);
    EXPECT_FALSE(parse_pay("o", "{}").expected_version);
    EXPECT_EQ(parse_pay("o", R"({"expected_version":3})").expected_version, 3);
}

TEST(cqrs_order_commands, a_snapshot_is_due_when_a_multiple_is_crossed) {
    EXPECT_FALSE(snapshot_due(0, 1, 5));
    EXPECT_FALSE(snapshot_due(3, 4, 5));
    EXPECT_TRUE(snapshot_due(4, 5, 5));
    EXPECT_TRUE(snapshot_due(4, 6, 5)); // two events at once, across 5
    EXPECT_FALSE(snapshot_due(5, 6, 5));
    EXPECT_TRUE(snapshot_due(9, 10, 5));
    EXPECT_TRUE(snapshot_due(0, 1, 1));
    EXPECT_FALSE(snapshot_due(4, 5, 0)); // 0: never
}

TEST(cqrs_order_commands, answers_follow_the_contract) {
    EXPECT_EQ(status_of(rejection::kind::conflict), 409);
    EXPECT_EQ(status_of(rejection::kind::invalid), 422);
    EXPECT_EQ(status_of(rejection::kind::not_found), 404);
    EXPECT_EQ(nlohmann::json::parse(refusal_body({rejection::kind::not_found, "no order o"}, 0)),
              (nlohmann::json{{"error", "not_found"}, {"message", "no order o"}, {"version", 0}}));
    EXPECT_EQ(nlohmann::json::parse(dependency_body("payments", "refused")),
              (nlohmann::json{
                  {"error", "dependency"}, {"dependency", "payments"}, {"message", "refused"}}));
    const event e{"o", 1, "OrderCreated", {{"customer", "c"}}};
    const auto body = nlohmann::json::parse(success_body("o", 1, {e}));
    EXPECT_EQ(body["order_id"], "o");
    EXPECT_EQ(body["version"], 1);
    EXPECT_EQ(body["events"][0], to_json(e));
}

} // namespace
} // namespace cqrs::orders
