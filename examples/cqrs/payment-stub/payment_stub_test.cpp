// The payment stub's decisions, without sockets: idempotent charges, the
// refusals that name their field, the fault mix and its reproducibility.
#include "payment_stub.hpp"
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace {

using keel::test::http::behaviour;
using keel::test::http::received_request;
using keel::test::http::response;
using json = nlohmann::json;

received_request pay(const std::string& key, const std::string& body) {
    received_request r{.method = "POST", .target = "/payments", .headers = {}, .body = body};
    if (!key.empty())
        r.headers.emplace_back("Idempotency-Key", key);
    return r;
}

received_request order(const std::string& key, const std::string& order_id = "o-1") {
    return pay(key, json{{"order_id", order_id}, {"amount_cents", 1250}}.dump());
}

received_request post(const std::string& target, const std::string& body) {
    return {.method = "POST", .target = target, .headers = {}, .body = body};
}

received_request get(const std::string& target) {
    return {.method = "GET", .target = target, .headers = {}, .body = {}};
}

TEST(cqrs_payment_stub, same_key_same_payment_charged_once) {
    cqrs::payment_stub stub(1);
    const response first = stub.answer(order("pay-o-1"));
    EXPECT_EQ(first.what, behaviour::reply);
    EXPECT_EQ(first.status, 200);
    EXPECT_EQ(json::parse(first.body), (json{{"payment_id", "pay-1"}}));
    EXPECT_EQ(stub.answer(order("pay-o-1")).body, first.body);
    EXPECT_EQ(json::parse(stub.answer(order("pay-o-2", "o-2")).body)["payment_id"], "pay-2");

    const json stats = json::parse(stub.answer(get("/admin/stats")).body);
    EXPECT_EQ(stats["requests"], 3);
    EXPECT_EQ(stats["charges"], 2);
    EXPECT_EQ(stats["duplicates"], 1);
}

TEST(cqrs_payment_stub, refusals_name_the_field) {
    cqrs::payment_stub stub(1);
    auto field = [&](const received_request& r) {
        const response a = stub.answer(r);
        EXPECT_EQ(a.status, 400) << a.body;
        return json::parse(a.body).value("field", "");
    };
    EXPECT_EQ(field(pay("", R"({"order_id":"o","amount_cents":1})")), "Idempotency-Key");
    EXPECT_EQ(field(pay("k", R"({"amount_cents":1})")), "order_id");
    EXPECT_EQ(field(pay("k", R"({"order_id":"o","amount_cents":-1})")), "amount_cents");
    EXPECT_EQ(field(pay("k", R"({"order_id":"o","amount_cents":"1"})")), "amount_cents");
    EXPECT_EQ(field(pay("k", "not json")), "");

    EXPECT_EQ(field(post("/admin/faults", R"({"stall":1.5})")), "stall");
    EXPECT_EQ(field(post("/admin/faults", R"({"reset":-0.1})")), "reset");
    EXPECT_EQ(field(post("/admin/faults", R"({"unavailable":0.6,"reset":0.5})")),
              "unavailable+stall+reset");
    EXPECT_EQ(field(post("/admin/faults", R"({"stall_ms":1.5})")), "stall_ms");
    EXPECT_EQ(field(post("/admin/faults", R"({"retry_after":true})")), "retry_after");
    EXPECT_EQ(field(post("/admin/faults", R"({"unavailible":0.1})")), "unavailible");
    // Nothing refused was charged or changed the mix.
    EXPECT_EQ(stub.stats().charges, 0);
    EXPECT_EQ(stub.stats().rejected, 5);
    EXPECT_EQ(stub.faults().stall, 0);
}

TEST(cqrs_payment_stub, each_fault_does_what_it_says) {
    cqrs::payment_stub stub(1);
    ASSERT_EQ(stub.answer(post("/admin/faults", R"({"unavailable":1,"retry_after":"7"})")).status,
              200);
    const response busy = stub.answer(order("k1"));
    EXPECT_EQ(busy.what, behaviour::reply);
    EXPECT_EQ(busy.status, 503);
    EXPECT_EQ(busy.headers.back(), (std::pair<std::string, std::string>{"Retry-After", "7"}));
    EXPECT_EQ(stub.stats().charges, 0); // a 503 charges nothing

    stub.answer(post("/admin/faults", R"({"stall":1,"stall_ms":1500})"));
    const response stalled = stub.answer(order("k1"));
    EXPECT_EQ(stalled.what, behaviour::close_without_reply);
    EXPECT_EQ(stalled.delay, std::chrono::milliseconds(1500));
    stub.answer(post("/admin/faults", R"({"stall":1,"stall_ms":0})"));
    EXPECT_EQ(stub.answer(order("k1")).what, behaviour::stall_before_headers);

    stub.answer(post("/admin/faults", R"({"reset":1})"));
    EXPECT_EQ(stub.answer(order("k1")).what, behaviour::reset);

    // The lost replies were charges (once: same key); admin and health
    // routes are never faulted.
    EXPECT_EQ(stub.answer(get("/healthz")).status, 200);
    EXPECT_EQ(stub.answer(get("/admin/stats")).what, behaviour::reply);
    const cqrs::payment_stats s = stub.stats();
    EXPECT_EQ(s.requests, 4);
    EXPECT_EQ(s.unavailable, 1);
    EXPECT_EQ(s.stalled, 2);
    EXPECT_EQ(s.reset, 1);
    EXPECT_EQ(s.charges, 1);

    stub.answer(post("/admin/faults", "{}")); // heals
    EXPECT_EQ(stub.answer(order("k1")).body, R"({"payment_id":"pay-1"})");
}

TEST(cqrs_payment_stub, the_mix_is_roughly_as_asked_and_the_seed_repeats_it) {
    auto run = [](std::uint64_t seed) {
        cqrs::payment_stub stub(seed);
        stub.answer(post("/admin/faults", R"({"unavailable":0.2,"stall":0.1,"reset":0.1})"));
        std::vector<behaviour> what;
        std::vector<int> status;
        for (int i = 0; i < 2000; ++i) {
            // The key is the number alone: "k" + std::to_string(i) trips g++ 12's
            // -Wrestrict false positive at -O3.
            const response r = stub.answer(order(std::to_string(i)));
            what.push_back(r.what);
            status.push_back(r.status);
        }
        return std::tuple{what, status, stub.stats()};
    };
    const auto [what, status, stats] = run(42);
    EXPECT_NEAR(stats.unavailable, 400, 80);
    EXPECT_NEAR(stats.stalled, 200, 60);
    EXPECT_NEAR(stats.reset, 200, 60);
    EXPECT_EQ(stats.requests, 2000);
    EXPECT_EQ(stats.charges, 2000 - stats.unavailable);

    const auto [what_again, status_again, stats_again] = run(42);
    EXPECT_EQ(what_again, what);
    EXPECT_EQ(status_again, status);
    EXPECT_NE(std::get<0>(run(43)), what);
}

TEST(cqrs_payment_stub, routes_and_methods) {
    cqrs::payment_stub stub(1);
    EXPECT_EQ(stub.answer(get("/payments")).status, 405);
    EXPECT_EQ(stub.answer(get("/nowhere")).status, 404);
    EXPECT_EQ(json::parse(stub.answer(get("/admin/faults")).body)["stall_ms"], 1000);
    stub.answer(order("k"));
    EXPECT_NE(stub.answer(get("/metrics")).body.find("cqrs_payment_stub_charges_total 1\n"),
              std::string::npos);
}

} // namespace
