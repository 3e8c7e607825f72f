// Loading `bulkhead:`: every key of the issue's block, the merge order
// defaults -> profiles (in `extends` order) -> the dependency's own, `off`
// and `adaptive: off`, every impossible value as a positioned error, and
// what --explain writes back.
#include <keel/config/document.hpp>

#include <gtest/gtest.h>

#include <string>

namespace keel::config {
namespace {

using namespace std::chrono_literals;
using settings = bulkhead_settings;
using algorithm = settings::adaptive_settings::algorithm_kind;

TEST(config_bulkhead, every_key_is_read) {
    const document doc = load_string(R"(version: 1
dependencies:
  payments:
    bulkhead:
      max_concurrent: 64
      queue: { max: 128, timeout: 50ms }
      adaptive:
        algorithm: gradient2
        initial: 20
        min: 4
        max: 256
        backoff_ratio: 0.8
        timeout: 1s
        smoothing: 0.5
        queue_size: 6
        tolerance: 2
        long_window: 100
)");
    const auto& b = doc.find("payments")->bulkhead;
    ASSERT_TRUE(b.has_value());
    settings want;
    want.max_concurrent = 64;
    want.queue = {128, 50ms};
    auto& a = want.adaptive.emplace();
    a.algorithm = algorithm::gradient2;
    a.initial = 20;
    a.min = 4;
    a.max = 256;
    a.backoff_ratio = 0.8;
    a.timeout = 1s;
    a.smoothing = 0.5;
    a.queue_size = 6;
    a.tolerance = 2.0;
    a.long_window = 100;
    EXPECT_TRUE(*b == want);
    EXPECT_FALSE(doc.defaults_bulkhead.has_value());
}

TEST(config_bulkhead, an_empty_key_is_a_bulkhead_with_the_built_in_settings) {
    const document doc = load_string("version: 1\ndependencies:\n  a: {bulkhead: }\n"
                                     "  b: {bulkhead: {adaptive: {}}}\n"
                                     "  c: {bulkhead: {adaptive: {algorithm: gradient2}}}\n"
                                     "  d: {}\n");
    const settings& a = *doc.find("a")->bulkhead;
    EXPECT_TRUE(a == settings{}) << "max_concurrent 64, no queue";
    EXPECT_EQ(a.max_concurrent, 64);
    EXPECT_EQ(a.queue.max, 0);
    EXPECT_EQ(a.queue.timeout, 50ms);
    const settings& b = *doc.find("b")->bulkhead;
    ASSERT_TRUE(b.adaptive.has_value());
    EXPECT_EQ(b.adaptive->algorithm, algorithm::aimd);
    EXPECT_EQ(b.adaptive->min, 1) << "always set: aimd's own";
    EXPECT_EQ(doc.find("c")->bulkhead->adaptive->min, 20) << "gradient2's own, as Netflix's";
    EXPECT_FALSE(doc.find("d")->bulkhead.has_value()) << "none unless written";
}

TEST(config_bulkhead, merge_order_is_that_of_the_breaker_key_by_key) {
    const document doc = load_string(R"(version: 1
defaults:
  bulkhead: {max_concurrent: 10, queue: {max: 5}}
profiles:
  a: {bulkhead: {queue: {timeout: 1s}, adaptive: {algorithm: gradient2, min: 4}}}
  b: {bulkhead: {max_concurrent: 30, adaptive: {max: 40}}}
dependencies:
  ab: {extends: [a, b]}
  ba: {extends: [b, a], bulkhead: {max_concurrent: 50}}
  fixed: {extends: [a, b], bulkhead: {adaptive: off}}
  plain: {}
)");
    const settings& ab = *doc.find("ab")->bulkhead;
    EXPECT_EQ(ab.max_concurrent, 30); // b
    EXPECT_EQ(ab.queue.max, 5);       // defaults
    EXPECT_EQ(ab.queue.timeout, 1s);  // a, within queue
    ASSERT_TRUE(ab.adaptive.has_value());
    EXPECT_EQ(ab.adaptive->algorithm, algorithm::gradient2); // a, within adaptive
    EXPECT_EQ(ab.adaptive->min, 4);
    EXPECT_EQ(ab.adaptive->max, 40); // b
    EXPECT_EQ(doc.find("ba")->bulkhead->max_concurrent, 50);
    const settings& fixed = *doc.find("fixed")->bulkhead;
    EXPECT_FALSE(fixed.adaptive.has_value());
    EXPECT_EQ(fixed.max_concurrent, 30) << "adaptive: off keeps the rest";
    EXPECT_TRUE(*doc.find("plain")->bulkhead == *doc.defaults_bulkhead);
}

TEST(config_bulkhead, off_drops_an_inherited_bulkhead_and_what_it_set) {
    const document doc = load_string(R"(version: 1
defaults:
  bulkhead: {max_concurrent: 10, adaptive: {algorithm: gradient2, min: 4, timeout: 2s}}
profiles:
  unbounded: {bulkhead: off}
dependencies:
  off-here: {bulkhead: off}
  off-by-profile: {extends: unbounded}
  on-again: {extends: unbounded, bulkhead: {queue: {max: 2}}}
  adaptive-again: {bulkhead: {adaptive: off}, extends: unbounded}
  no-timeout: {bulkhead: {adaptive: {timeout: off}}}
)");
    EXPECT_FALSE(doc.find("off-here")->bulkhead.has_value());
    EXPECT_FALSE(doc.find("off-by-profile")->bulkhead.has_value());
    const settings& again = *doc.find("on-again")->bulkhead;
    EXPECT_EQ(again.max_concurrent, 64) << "from the built-in settings after off";
    EXPECT_FALSE(again.adaptive.has_value());
    EXPECT_EQ(again.queue.max, 2);
    EXPECT_FALSE(doc.find("adaptive-again")->bulkhead->adaptive.has_value());
    const settings& untimed = *doc.find("no-timeout")->bulkhead;
    ASSERT_TRUE(untimed.adaptive.has_value());
    EXPECT_FALSE(untimed.adaptive->timeout.has_value());
    EXPECT_EQ(untimed.adaptive->min, 4) << "the rest inherited";
}

struct bad_case {
    const char* name;
    const char* bulkhead;
    int column;
    const char* message;
};

class config_bulkhead_errors : public ::testing::TestWithParam<bad_case> {};

TEST_P(config_bulkhead_errors, names_file_line_column_key_and_why) {
    const bad_case& c = GetParam();
    const load_result r = try_load_string(
        std::string("version: 1\ndependencies:\n  d:\n    bulkhead: ") + c.bulkhead + "\n",
        "t.yaml");
    ASSERT_EQ(r.errors.size(), 1u) << (r.errors.empty() ? "" : r.errors[0].to_string());
    EXPECT_EQ(r.errors[0].to_string(),
              "t.yaml:4:" + std::to_string(c.column) + ": error: " + c.message);
}

// `    bulkhead: ` is 14 columns: a value written right after it is at 15.
INSTANTIATE_TEST_SUITE_P(
    every_rule, config_bulkhead_errors,
    ::testing::Values(
        bad_case{"not_a_map", "on", 15,
                 "dependencies.d.bulkhead: expected a map of bulkhead settings or 'off', got "
                 "\"on\""},
        bad_case{"unknown_key", "{max_concurent: 3}", 16,
                 "dependencies.d.bulkhead.max_concurent: unknown key 'max_concurent' (did you "
                 "mean 'max_concurrent'?); expected one of: max_concurrent, queue, adaptive"},
        bad_case{"max_concurrent_zero", "{max_concurrent: 0}", 32,
                 "dependencies.d.bulkhead.max_concurrent: expected a whole number >= 1, got "
                 "\"0\""},
        bad_case{"max_concurrent_huge", "{max_concurrent: 2000000}", 32,
                 "dependencies.d.bulkhead.max_concurrent: must be <= 1000000, got 2000000"},
        bad_case{"queue_max_negative", "{queue: {max: -1}}", 29,
                 "dependencies.d.bulkhead.queue.max: expected a whole number >= 0, got \"-1\""},
        bad_case{"queue_timeout_no_unit", "{queue: {timeout: 50}}", 33,
                 "dependencies.d.bulkhead.queue.timeout: duration \"50\" needs a unit (ns, us, "
                 "ms, s, m, h)"},
        bad_case{"queue_timeout_unlimited", "{queue: {timeout: unlimited}}", 33,
                 "dependencies.d.bulkhead.queue.timeout: cannot be unlimited"},
        bad_case{"queue_unknown_key", "{queue: {size: 3}}", 24,
                 "dependencies.d.bulkhead.queue.size: unknown key 'size'; expected one of: max, "
                 "timeout"},
        bad_case{"adaptive_scalar", "{adaptive: yes}", 26,
                 "dependencies.d.bulkhead.adaptive: expected a map such as {algorithm: "
                 "gradient2, max: 256} or 'off', got \"yes\""},
        bad_case{"adaptive_unknown_key", "{adaptive: {intial: 5}}", 27,
                 "dependencies.d.bulkhead.adaptive.intial: unknown key 'intial' (did you mean "
                 "'initial'?); expected one of: algorithm, initial, min, max, backoff_ratio, "
                 "timeout, smoothing, queue_size, tolerance, long_window"},
        bad_case{"algorithm_unknown", "{adaptive: {algorithm: gradient}}", 38,
                 "dependencies.d.bulkhead.adaptive.algorithm: unknown algorithm 'gradient' (did "
                 "you mean 'gradient2'?); expected one of: aimd, gradient2"},
        bad_case{"min_zero", "{adaptive: {min: 0}}", 32,
                 "dependencies.d.bulkhead.adaptive.min: expected a whole number >= 1, got \"0\""},
        bad_case{"backoff_ratio_one", "{adaptive: {backoff_ratio: 1}}", 42,
                 "dependencies.d.bulkhead.adaptive.backoff_ratio: must be in (0, 1), got 1"},
        bad_case{"backoff_ratio_zero", "{adaptive: {backoff_ratio: 0}}", 42,
                 "dependencies.d.bulkhead.adaptive.backoff_ratio: must be in (0, 1), got 0"},
        bad_case{"timeout_zero", "{adaptive: {timeout: 0s}}", 36,
                 "dependencies.d.bulkhead.adaptive.timeout: must be positive, got 0s"},
        bad_case{"smoothing_over_one", "{adaptive: {smoothing: 1.5}}", 38,
                 "dependencies.d.bulkhead.adaptive.smoothing: must be in (0, 1], got 1.5"},
        bad_case{"queue_size_negative", "{adaptive: {queue_size: -2}}", 39,
                 "dependencies.d.bulkhead.adaptive.queue_size: expected a whole number >= 0, got "
                 "\"-2\""},
        bad_case{"tolerance_below_one", "{adaptive: {tolerance: 0.5}}", 38,
                 "dependencies.d.bulkhead.adaptive.tolerance: must be >= 1, got 0.5"},
        bad_case{"long_window_zero", "{adaptive: {long_window: 0}}", 40,
                 "dependencies.d.bulkhead.adaptive.long_window: expected a whole number >= 1, "
                 "got \"0\""},
        bad_case{"max_below_built_in_initial", "{adaptive: {max: 10}}", 27,
                 "dependencies.d.bulkhead.adaptive.max: bulkhead.adaptive.max (10) is below "
                 "bulkhead.adaptive.initial (20, the built-in bulkhead.adaptive.initial)"},
        bad_case{"initial_below_gradient2_min", "{adaptive: {algorithm: gradient2, initial: 10}}",
                 49,
                 "dependencies.d.bulkhead.adaptive.initial: bulkhead.adaptive.initial (10) is "
                 "below bulkhead.adaptive.min (20, the built-in bulkhead.adaptive.min)"},
        bad_case{"min_above_max", "{adaptive: {max: 30, min: 40}}", 36,
                 "dependencies.d.bulkhead.adaptive.min: bulkhead.adaptive.min (40) is above "
                 "bulkhead.adaptive.max (30, from dependencies.d.bulkhead.adaptive.max at 4:27)"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(config_bulkhead, a_limit_out_of_order_across_layers_names_both_places) {
    const load_result r = try_load_string(R"(version: 1
defaults:
  bulkhead: {adaptive: {min: 8}}
dependencies:
  d: {bulkhead: {adaptive: {initial: 5}}}
)",
                                          "t.yaml");
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_EQ(r.errors[0].to_string(),
              "t.yaml:5:29: error: dependencies.d.bulkhead.adaptive.initial: "
              "bulkhead.adaptive.initial (5) is below bulkhead.adaptive.min (8, from "
              "defaults.bulkhead.adaptive.min at 3:25)");
}

TEST(config_bulkhead, every_error_of_a_section_is_reported_at_once) {
    const load_result r = try_load_string(R"(version: 1
dependencies:
  d:
    bulkhead:
      max_concurrent: 0
      queue: {max: x}
      adaptive: {algorithm: vegas}
)",
                                          "t.yaml");
    ASSERT_EQ(r.errors.size(), 3u);
    EXPECT_EQ(r.errors[0].where.line, 5);
    EXPECT_EQ(r.errors[1].where.line, 6);
    EXPECT_EQ(r.errors[2].where.line, 7);
}

// ---- keel-check --explain --------------------------------------------------------------

const char* const with_bulkheads = R"(version: 1
defaults:
  bulkhead: {max_concurrent: 32, adaptive: {algorithm: gradient2, min: 4, max: 256}}
profiles:
  unbounded: {bulkhead: off}
dependencies:
  inherits: {}
  fixed: {bulkhead: {queue: {max: 8, timeout: 20ms}, adaptive: off}}
  aimd: {bulkhead: {adaptive: {algorithm: aimd, min: 2, backoff_ratio: 0.75, timeout: off}}}
  none: {extends: unbounded}
)";

TEST(config_bulkhead, explain_loads_back_to_the_same_settings) {
    const document doc = load_string(with_bulkheads, "in.yaml");
    const std::string text = explain(doc);
    const document again = load_string(text, "explained.yaml");
    EXPECT_TRUE(again.defaults_bulkhead == doc.defaults_bulkhead) << text;
    ASSERT_EQ(again.dependencies.size(), doc.dependencies.size());
    for (std::size_t i = 0; i < doc.dependencies.size(); ++i) {
        SCOPED_TRACE(doc.dependencies[i].name);
        EXPECT_TRUE(again.dependencies[i].bulkhead == doc.dependencies[i].bulkhead) << text;
    }
    for (const dependency& dep : doc.dependencies) {
        const document one = load_string(explain(doc, dep.name));
        EXPECT_TRUE(one.dependencies[0].bulkhead == dep.bulkhead) << dep.name;
    }
}

TEST(config_bulkhead, explain_spells_a_bulkhead_out) {
    const document doc = load_string(with_bulkheads, "in.yaml");
    const std::string text = explain(doc, "inherits");
    EXPECT_EQ(text.substr(text.find("    bulkhead:")), R"(    bulkhead:
      max_concurrent: 32
      queue: {max: 0, timeout: 50ms}
      adaptive: {algorithm: gradient2, initial: 20, min: 4, max: 256, backoff_ratio: 0.9, timeout: off, smoothing: 0.2, queue_size: 4, tolerance: 1.5, long_window: 600}
    retry_budget: {kind: ratio, percent: 20, min_per_second: 10, ttl: 10s}
)");
    const std::string fixed = explain(doc, "fixed");
    EXPECT_NE(fixed.find("      adaptive: off\n"), std::string::npos) << fixed;
    EXPECT_NE(explain(doc, "none").find("    bulkhead: off\n"), std::string::npos);
}

} // namespace
} // namespace keel::config
