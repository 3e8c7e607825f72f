#include "driver.hpp"
#include "faults.hpp"
#include "options.hpp"
#include "scrape.hpp"
#include "stack.hpp"
#include <gtest/gtest.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using namespace cqrs::demo;

options parse_args(std::vector<std::string> args) {
    args.insert(args.begin(), "cqrs-demo");
    std::vector<char*> argv;
    for (auto& a : args)
        argv.push_back(a.data());
    bool help = false;
    return parse(static_cast<int>(argv.size()), argv.data(), help);
}

TEST(cqrs_demo_judge, success_is_applied) {
    bool recognised = true;
    EXPECT_EQ(judge(200, R"({"version":3})", 2, recognised), verdict::applied);
    EXPECT_FALSE(recognised);
    EXPECT_EQ(judge(201, "{}", 0, recognised), verdict::applied);
}

TEST(cqrs_demo_judge, conflict_at_the_next_version_is_an_earlier_send_applied) {
    bool recognised = false;
    EXPECT_EQ(judge(409, R"({"error":"conflict","version":3})", 2, recognised), verdict::applied);
    EXPECT_TRUE(recognised);
}

TEST(cqrs_demo_judge, other_conflicts_and_invalid_commands_are_rejected) {
    bool recognised = false;
    EXPECT_EQ(judge(409, R"({"error":"conflict","version":5})", 2, recognised), verdict::rejected);
    EXPECT_EQ(judge(409, "not json", 2, recognised), verdict::rejected);
    EXPECT_EQ(judge(422, R"({"error":"invalid"})", 2, recognised), verdict::rejected);
    EXPECT_EQ(judge(404, R"({"error":"not_found"})", 2, recognised), verdict::rejected);
    EXPECT_FALSE(recognised);
}

TEST(cqrs_demo_judge, no_answer_and_server_errors_are_worth_sending_again) {
    bool recognised = false;
    EXPECT_EQ(judge(0, "", 2, recognised), verdict::failed);
    EXPECT_EQ(judge(503, R"({"error":"dependency"})", 2, recognised), verdict::failed);
    EXPECT_EQ(judge(500, "", 2, recognised), verdict::failed);
    EXPECT_EQ(judge(429, "", 2, recognised), verdict::failed);
}

TEST(cqrs_demo_options, defaults) {
    const options o = parse_args({});
    EXPECT_EQ(o.orders, 2000);
    EXPECT_EQ(o.concurrency, 16);
    EXPECT_EQ(o.faults.size(), 5u);
    EXPECT_FALSE(o.external_kafka());
    EXPECT_FALSE(o.external_pg());
}

TEST(cqrs_demo_options, fault_lists_and_errors) {
    EXPECT_TRUE(parse_args({"--faults", "none"}).faults.empty());
    const options o = parse_args({"--faults", "payment,relay-kill", "--orders", "200"});
    EXPECT_EQ(o.orders, 200);
    EXPECT_TRUE(o.has(fault::payment));
    EXPECT_TRUE(o.has(fault::relay_kill));
    EXPECT_FALSE(o.has(fault::broker));
    EXPECT_THROW(parse_args({"--faults", "payments"}), std::invalid_argument);
    EXPECT_THROW(parse_args({"--orders", "many"}), std::invalid_argument);
    EXPECT_THROW(parse_args({"--order", "5"}), std::invalid_argument);
    EXPECT_THROW(parse_args({"--event-store-dsn", "dbname=a"}), std::invalid_argument);
}

TEST(cqrs_demo_plan, every_fault_in_order_of_progress) {
    const auto steps = plan(parse_args({}));
    ASSERT_FALSE(steps.empty());
    EXPECT_TRUE(std::is_sorted(steps.begin(), steps.end(),
                               [](const auto& a, const auto& b) { return a.at < b.at; }));
    auto count = [&](fault f) {
        return std::count_if(steps.begin(), steps.end(),
                             [f](const fault_step& s) { return s.kind == f; });
    };
    EXPECT_GT(count(fault::broker), 0);
    EXPECT_EQ(count(fault::pg_restart), 1);
    EXPECT_EQ(count(fault::payment), 2);        // on, then off
    EXPECT_EQ(count(fault::projector_kill), 2); // crash, then restart
    EXPECT_EQ(count(fault::relay_kill), 6);     // three crashes, each restarted at once
    // A crashed service comes back before the drive ends.
    for (const auto& s : steps)
        EXPECT_LE(s.at, 0.9);
}

TEST(cqrs_demo_plan, what_is_not_ours_is_not_faulted) {
    EXPECT_TRUE(plan(parse_args({"--faults", "none"})).empty());
    const auto steps = plan(parse_args({"--kafka", "k:9092", "--pg", "host=db"}));
    for (const auto& s : steps) {
        EXPECT_NE(s.kind, fault::broker);
        EXPECT_NE(s.kind, fault::pg_restart);
    }
}

TEST(cqrs_demo_scrape, keel_counters_by_dependency) {
    const auto counts = parse_keel_counters(
        "# HELP keel_calls_total Calls\n"
        "# TYPE keel_calls_total counter\n"
        "keel_calls_total{dependency=\"payments\",outcome=\"success\"} 10\n"
        "keel_calls_total{dependency=\"payments\",outcome=\"success_after_retry\"} 4\n"
        "keel_calls_total{dependency=\"payments\",outcome=\"failure_after_retry\"} 2\n"
        "keel_calls_total{dependency=\"payments\",outcome=\"cancelled\"} 1\n"
        "keel_retries_total{dependency=\"payments\",reason=\"throttled\"} 5\n"
        "keel_retries_total{dependency=\"payments\",reason=\"timeout\"} 1\n"
        "keel_timeouts_total{dependency=\"payments\",phase=\"exchange\"} 1\n"
        "keel_timeouts_total{dependency=\"event-store\",phase=\"connect\"} 0\n"
        "keel_call_duration_seconds_bucket{dependency=\"payments\",le=\"0.1\"} 7\n"
        "keel_config_reloads_total{result=\"success\"} 1\n");
    ASSERT_EQ(counts.count("payments"), 1u);
    const auto& p = counts.at("payments");
    EXPECT_EQ(p.calls, 17);
    EXPECT_EQ(p.recovered, 4);
    EXPECT_EQ(p.failed, 2);
    EXPECT_EQ(p.retries, 6);
    EXPECT_EQ(p.timeouts, 1);
    EXPECT_EQ(counts.at("event-store").timeouts, 0);
    counts_by_dependency sum = counts;
    add(sum, counts);
    EXPECT_EQ(sum.at("payments").retries, 12);
}

TEST(cqrs_demo_conninfo, database_replaced) {
    EXPECT_EQ(with_database("host=127.0.0.1 port=5432 user=postgres", "cqrs_read"),
              "host=127.0.0.1 port=5432 user=postgres dbname=cqrs_read");
    EXPECT_EQ(with_database("postgresql://u@h:5432/postgres?sslmode=disable", "cqrs_events"),
              "postgresql://u@h:5432/cqrs_events?sslmode=disable");
    EXPECT_EQ(with_database("postgres://u@h", "cqrs_events"), "postgres://u@h/cqrs_events");
    EXPECT_EQ(with_database("postgresql://h?user=u", "x"), "postgresql://h/x?user=u");
}

} // namespace
