// Reading scenario files: each form of arrivals, and every problem at once.
#include "scenario.hpp"
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace keel::sim {
namespace {

using namespace std::chrono_literals;

std::optional<scenario> parse(const std::string& text, std::vector<config::diagnostic>& errors) {
    return load_scenario_string(text, "s.yaml", "", errors);
}

TEST(sim_scenario, arrivals_are_read_in_each_form) {
    std::vector<config::diagnostic> errors;
    const std::string head = "version: 1\npolicy: { version: 1, dependencies: { d: {} } }\n"
                             "dependency: d\nbehaviour: [ { result: ok } ]\n";
    auto s = parse(head + "duration: 1s\ncalls: { rate: 120/m }\n", errors);
    ASSERT_TRUE(s) << errors[0].to_string();
    EXPECT_DOUBLE_EQ(std::get<poisson_arrivals>(s->calls).per_second, 2.0);
    s = parse(head + "calls: { at: [2s, 0ms, 10ms] }\n", errors);
    ASSERT_TRUE(s);
    EXPECT_EQ(std::get<explicit_arrivals>(s->calls).times, (std::vector<nanos>{0ms, 10ms, 2s}));
    EXPECT_FALSE(s->duration);
    s = parse(head + "duration: 1s\nseed: 9\ncalls: { concurrency: { callers: 3, think: 5ms } }\n",
              errors);
    ASSERT_TRUE(s);
    EXPECT_EQ(std::get<closed_loop_arrivals>(s->calls).callers, 3);
    EXPECT_EQ(std::get<closed_loop_arrivals>(s->calls).think, 5ms);
    EXPECT_EQ(s->seed, 9u);
    EXPECT_TRUE(errors.empty());

    s = parse(head + "duration: 1s\ncalls: { at: [0ms, 1s] }\n", errors);
    EXPECT_FALSE(s);
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].to_string(), "s.yaml:6:20: error: calls.at[1]: starts at or after the "
                                     "duration (1s): calls start in [0, duration)");
    errors.clear();

    s = parse(head + "duration: 1s\ncalls: { rate: 50 }\n", errors);
    EXPECT_FALSE(s);
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].to_string(),
              "s.yaml:6:16: error: calls.rate: expected a rate like 50/s (calls per s, m or h), "
              "got '50'");
}

TEST(sim_scenario, every_problem_is_reported_at_once_in_file_order) {
    std::vector<config::diagnostic> errors;
    const auto s = parse(R"(version: 2
policy: { version: 1, dependencies: { d: {} } }
dependency: e
duration: 0s
calls: {}
behaviour: []
)",
                         errors);
    EXPECT_FALSE(s);
    std::vector<int> lines;
    for (const auto& d : errors)
        lines.push_back(d.where.line);
    EXPECT_EQ(lines, (std::vector<int>{1, 3, 4, 5, 6}));
}

TEST(sim_scenario, a_misspelled_key_is_one_error_not_two) {
    std::vector<config::diagnostic> errors;
    const auto s = parse(R"(version: 1
policy: { version: 1, dependencies: { d: {} } }
dependency: d
durration: 1s
calls: { every: 100ms }
behavior: [ { result: ok } ]
)",
                         errors);
    EXPECT_FALSE(s);
    ASSERT_EQ(errors.size(), 2u);
    EXPECT_EQ(errors[0].to_string(), "s.yaml:4:1: error: durration: unknown key 'durration' (did "
                                     "you mean 'duration'?); expected one of: version, policy, "
                                     "dependency, seed, duration, calls, behaviour, "
                                     "operation");
    EXPECT_EQ(errors[1].where.line, 6);
}

TEST(sim_scenario, the_operation_is_idempotent_unless_it_says_not) {
    std::vector<config::diagnostic> errors;
    const std::string head = "version: 1\npolicy: { version: 1, dependencies: { d: {} } }\n"
                             "dependency: d\nbehaviour: [ { result: ok } ]\nduration: 1s\n"
                             "calls: { every: 100ms }\n";
    auto s = parse(head, errors);
    ASSERT_TRUE(s);
    EXPECT_TRUE(s->idempotent) << "the default: a `hedge:` hedges it";
    s = parse(head + "operation: { idempotent: false }\n", errors);
    ASSERT_TRUE(s);
    EXPECT_FALSE(s->idempotent);
    s = parse(head + "operation: { idempotent: perhaps, retries: 2 }\n", errors);
    EXPECT_FALSE(s);
    std::vector<std::string> got;
    for (const auto& d : errors)
        got.push_back(d.to_string());
    EXPECT_EQ(got, (std::vector<std::string>{
                       "s.yaml:7:26: error: operation.idempotent: expected a boolean (true or "
                       "false), got \"perhaps\"",
                       "s.yaml:7:35: error: operation.retries: unknown key 'retries'; expected "
                       "one of: idempotent"}));
}

} // namespace
} // namespace keel::sim
