// Loading `circuit_breaker:`: every key of the issue's block, the merge
// order defaults -> profiles (in `extends` order) -> the dependency's own,
// `off`, and the windows and slow_call replaced whole.
#include <keel/config/document.hpp>

#include <gtest/gtest.h>

#include <string>

namespace keel::config {
namespace {

using namespace std::chrono_literals;
using settings = circuit_breaker_settings;

TEST(config_breaker, every_key_is_read) {
    const document doc = load_string(R"(version: 1
dependencies:
  payments:
    circuit_breaker:
      window: { kind: time, size: 30s, buckets: 6 }
      min_calls: 7
      failure_ratio: 0.25
      consecutive_failures: 4
      slow_call: { threshold: 2s, ratio: 0.8 }
      record: [transient, timeout]
      ignore: [throttled]
      break: { duration: 5s, multiplier: 2.0, max: 2m, jitter: 0.1 }
      half_open: { probes: 3, successes: 2, max_wait: 30s }
      scope: endpoint
      max_endpoints: 64
)");
    const auto& b = doc.find("payments")->circuit_breaker;
    ASSERT_TRUE(b.has_value());
    settings want;
    want.window = settings::window_kind::time;
    want.window_time = 30s;
    want.buckets = 6;
    want.min_calls = 7;
    want.failure_ratio = 0.25;
    want.consecutive_failures = 4;
    want.slow_threshold = 2s;
    want.slow_ratio = 0.8;
    want.record = fault_set{fault_class::transient, fault_class::timeout};
    want.ignore = fault_set{fault_class::throttled};
    want.break_duration = 5s;
    want.break_multiplier = 2.0;
    want.break_max = 2min;
    want.break_jitter = 0.1;
    want.probes = 3;
    want.successes = 2;
    want.half_open_max_wait = 30s;
    want.scope = settings::scope_kind::endpoint;
    want.max_endpoints = 64;
    EXPECT_TRUE(*b == want);
    EXPECT_FALSE(doc.defaults_circuit_breaker.has_value());
}

TEST(config_breaker, an_empty_key_is_a_breaker_with_the_built_in_settings) {
    const document doc = load_string("version: 1\ndependencies:\n  a: {circuit_breaker: }\n"
                                     "  b: {circuit_breaker: {}}\n  c: {}\n");
    settings built_in;
    built_in.successes = built_in.probes; // always set by the loader
    ASSERT_TRUE(doc.find("a")->circuit_breaker.has_value());
    EXPECT_TRUE(*doc.find("a")->circuit_breaker == built_in);
    EXPECT_TRUE(*doc.find("b")->circuit_breaker == built_in);
    EXPECT_FALSE(doc.find("c")->circuit_breaker.has_value()) << "none unless written";
}

TEST(config_breaker, merge_order_is_that_of_retry_and_timeout) {
    const document doc = load_string(R"(version: 1
defaults:
  circuit_breaker: {min_calls: 5, failure_ratio: 0.4, break: {duration: 2s}}
profiles:
  a: {circuit_breaker: {min_calls: 6, half_open: {probes: 2}, break: {max: 1m}}}
  b: {circuit_breaker: {min_calls: 8, break: {duration: 3s}}}
dependencies:
  ab: {extends: [a, b]}
  ba: {extends: [b, a]}
  own: {extends: [a, b], circuit_breaker: {failure_ratio: 0.9, half_open: {successes: 1}}}
  plain: {}
)");
    const settings& ab = *doc.find("ab")->circuit_breaker;
    EXPECT_EQ(ab.min_calls, 8);                               // b is last
    EXPECT_EQ(ab.break_duration, 3s);                         // b is last
    EXPECT_EQ(ab.break_max, 1min);                            // only a sets it
    EXPECT_EQ(ab.failure_ratio, 0.4);                         // from defaults
    EXPECT_EQ(ab.probes, 2);                                  // a, partial half_open
    EXPECT_EQ(ab.successes, 2);                               // follows probes
    EXPECT_EQ(ab.break_multiplier, 1.0);                      // built-in
    EXPECT_EQ(doc.find("ba")->circuit_breaker->min_calls, 6); // a is last
    const settings& own = *doc.find("own")->circuit_breaker;
    EXPECT_EQ(own.failure_ratio, 0.9);
    EXPECT_EQ(own.probes, 2);
    EXPECT_EQ(own.successes, 1);
    const settings& plain = *doc.find("plain")->circuit_breaker;
    EXPECT_EQ(plain.min_calls, 5);
    ASSERT_TRUE(doc.defaults_circuit_breaker.has_value());
    EXPECT_TRUE(*doc.defaults_circuit_breaker == plain);
}

TEST(config_breaker, off_drops_an_inherited_breaker_and_what_it_set) {
    const document doc = load_string(R"(version: 1
defaults:
  circuit_breaker: {min_calls: 5, break: {duration: 10s}}
profiles:
  quiet: {circuit_breaker: off}
dependencies:
  off-here: {circuit_breaker: off}
  off-by-profile: {extends: quiet}
  on-again: {extends: quiet, circuit_breaker: {break: {max: 5s}}}
  on: {}
)");
    EXPECT_FALSE(doc.find("off-here")->circuit_breaker.has_value());
    EXPECT_FALSE(doc.find("off-by-profile")->circuit_breaker.has_value());
    // Turned on again after `off`: from the built-in settings, so the
    // defaults' 10s break is gone and a 5s max is long enough.
    const settings& again = *doc.find("on-again")->circuit_breaker;
    EXPECT_EQ(again.min_calls, settings{}.min_calls);
    EXPECT_EQ(again.break_duration, settings{}.break_duration);
    EXPECT_EQ(again.break_max, 5s);
    EXPECT_EQ(doc.find("on")->circuit_breaker->min_calls, 5);
}

TEST(config_breaker, window_and_slow_call_are_replaced_whole) {
    const document doc = load_string(R"(version: 1
defaults:
  circuit_breaker:
    window: {kind: time, size: 1m, buckets: 6}
    slow_call: {threshold: 2s, ratio: 0.5}
dependencies:
  counted: {circuit_breaker: {window: {size: 50}, slow_call: {threshold: 1s}}}
  not-slow: {circuit_breaker: {slow_call: off}}
  inherits: {}
)");
    const settings& counted = *doc.find("counted")->circuit_breaker;
    EXPECT_EQ(counted.window, settings::window_kind::count) << "kind: count unless written";
    EXPECT_EQ(counted.window_size, 50);
    EXPECT_EQ(counted.window_time, settings{}.window_time);
    EXPECT_EQ(counted.buckets, settings{}.buckets);
    EXPECT_EQ(counted.slow_threshold, 1s);
    EXPECT_EQ(counted.slow_ratio, 1.0) << "the built-in ratio, not the inherited one";
    EXPECT_FALSE(doc.find("not-slow")->circuit_breaker->slow_threshold.has_value());
    const settings& inherits = *doc.find("inherits")->circuit_breaker;
    EXPECT_EQ(inherits.window, settings::window_kind::time);
    EXPECT_EQ(inherits.window_time, 1min);
    EXPECT_EQ(inherits.buckets, 6);
    EXPECT_EQ(inherits.slow_ratio, 0.5);
}

TEST(config_breaker, every_error_of_a_section_is_reported_at_once) {
    const load_result r = try_load_string(R"(version: 1
dependencies:
  d:
    circuit_breaker:
      min_calls: 0
      failure_ratio: 2
      scope: everywhere
)",
                                          "t.yaml");
    ASSERT_EQ(r.errors.size(), 3u);
    EXPECT_EQ(r.errors[0].to_string(),
              "t.yaml:5:18: error: dependencies.d.circuit_breaker.min_calls: expected a whole "
              "number >= 1, got \"0\"");
    EXPECT_EQ(r.errors[1].where.line, 6);
    EXPECT_EQ(r.errors[2].where.line, 7);
}

} // namespace
} // namespace keel::config
