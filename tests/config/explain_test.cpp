// explain(): the effective policies as YAML, which must load back to the
// same policies (what `keel-check --explain` prints is what runs).
#include <keel/config/document.hpp>

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace keel::config {
namespace {

using namespace std::chrono_literals;

const char* const source = R"(version: 1
defaults:
  retry:
    max_attempts: 4
    backoff: {kind: linear, initial: 1m30s, step: 250ms, max: unlimited, multiplier: 1.25, jitter: equal}
    retry_on: [throttled, transient]
    retry_after: {honor: false, max: 1h}
  timeout: {connect: 1s, exchange: 2s, total: 10s}
profiles:
  fast-read: {timeout: {exchange: 200ms}}
  patient: {retry: {max_attempts: 10, backoff: {kind: exponential, multiplier: 3}}}
dependencies:
  orders-db:
    kind: postgres
    extends: [fast-read, patient]
    timeout: {connect: 500ms}
    connection: {dsn: "secret-password"}
  "odd: name":
    kind: http
    timeout: {total: unlimited, exchange: unlimited, connect: 1ns}
  cancels:
    retry: {retry_on: [], backoff: {jitter: decorrelated, initial: 0s}}
  waits-out-refusals:
    retry: {retry_on: [rejected, cancelled, permanent, throttled, timeout, transient]}
  hedged:
    retry: {max_attempts: 1}
    hedge: {max_attempts: 4, delay: p99.9, min_samples: 20, non_fatal: [], min_remaining: 5ms}
)";

void expect_same(const pipeline_policy& a, const pipeline_policy& b) {
    EXPECT_EQ(a.retry.max_attempts, b.retry.max_attempts);
    EXPECT_EQ(a.retry.backoff, b.retry.backoff);
    EXPECT_EQ(a.retry.retry_on, b.retry.retry_on);
    EXPECT_EQ(a.retry.retry_after, b.retry.retry_after);
    EXPECT_EQ(a.timeout, b.timeout);
}

TEST(config_explain, round_trip_gives_the_same_policies) {
    const document doc = load_string(source, "in.yaml");
    const std::string text = explain(doc);
    const document again = load_string(text, "explained.yaml");
    ASSERT_EQ(again.dependencies.size(), doc.dependencies.size()) << text;
    expect_same(again.defaults, doc.defaults);
    for (std::size_t i = 0; i < doc.dependencies.size(); ++i) {
        SCOPED_TRACE(doc.dependencies[i].name);
        EXPECT_EQ(again.dependencies[i].name, doc.dependencies[i].name);
        EXPECT_EQ(again.dependencies[i].kind, doc.dependencies[i].kind);
        EXPECT_EQ(again.dependencies[i].extends, doc.dependencies[i].extends);
        expect_same(again.dependencies[i].policy, doc.dependencies[i].policy);
        EXPECT_EQ(again.dependencies[i].hedge, doc.dependencies[i].hedge);
    }
    ASSERT_TRUE(doc.find("hedged")->hedge.has_value());
    // A fixed point: explaining the explanation changes nothing but the name.
    std::string twice = explain(again);
    twice.replace(twice.find("explained.yaml"), 14, "in.yaml");
    EXPECT_EQ(twice, text);
}

TEST(config_explain, spells_every_field_out) {
    const document doc = load_string(source, "in.yaml");
    const std::string text = explain(doc, "orders-db");
    EXPECT_EQ(
        text,
        R"(# effective policies of in.yaml: defaults and profiles are merged into each dependency
version: 1
profiles:
  fast-read: {}
  patient: {}
dependencies:
  orders-db:
    kind: postgres
    extends: [fast-read, patient]
    retry:
      max_attempts: 10
      backoff:
        kind: exponential
        initial: 1m30s
        multiplier: 3.0
        step: 250ms
        max: unlimited
        jitter: equal
      retry_on: [transient, throttled]
      retry_after: {honor: false, max: 1h}
    timeout: {connect: 500ms, exchange: 200ms, total: 10s}
    retry_budget: {kind: ratio, percent: 20, min_per_second: 10, ttl: 10s}
)");
    // The connection may hold secrets once substituted: never printed.
    EXPECT_EQ(explain(doc).find("secret"), std::string::npos);
}

TEST(config_explain, only_one_dependency) {
    const document doc = load_string(source);
    const document one = load_string(explain(doc, "odd: name"));
    ASSERT_EQ(one.dependencies.size(), 1u);
    EXPECT_EQ(one.dependencies[0].name, "odd: name");
    EXPECT_EQ(one.dependencies[0].policy.timeout.total, unlimited);
    EXPECT_EQ(one.dependencies[0].policy.timeout.connect, 1ns);
    EXPECT_THROW((void)explain(doc, "missing"), std::invalid_argument);
}

TEST(config_explain, lists_every_fault_class_in_order) {
    const document doc = load_string(source);
    const std::string text = explain(doc, "waits-out-refusals");
    EXPECT_NE(
        text.find("retry_on: [transient, timeout, throttled, permanent, cancelled, rejected]"),
        std::string::npos)
        << text;
}

const char* const with_breakers = R"(version: 1
defaults:
  circuit_breaker:
    min_calls: 4
    slow_call: {threshold: 2s, ratio: 0.8}
    half_open: {successes: 2}
profiles:
  quiet: {circuit_breaker: off}
dependencies:
  inherits: {}
  timed:
    circuit_breaker:
      window: {kind: time, size: 1m30s, buckets: 9}
      slow_call: off
      record: []
      ignore: [throttled, permanent]
      break: {duration: 250ms, multiplier: 1.5, max: 1h, jitter: 0.125}
      half_open: {probes: 3, max_wait: 10s}
      scope: endpoint
      max_endpoints: 7
  quiet-one: {extends: quiet}
  on-again: {extends: quiet, circuit_breaker: {consecutive_failures: 3}}
)";

TEST(config_explain, breakers_load_back_to_the_same_settings) {
    const document doc = load_string(with_breakers, "in.yaml");
    const std::string text = explain(doc);
    const document again = load_string(text, "explained.yaml");
    EXPECT_TRUE(again.defaults_circuit_breaker == doc.defaults_circuit_breaker) << text;
    ASSERT_EQ(again.dependencies.size(), doc.dependencies.size());
    for (std::size_t i = 0; i < doc.dependencies.size(); ++i) {
        SCOPED_TRACE(doc.dependencies[i].name);
        EXPECT_TRUE(again.dependencies[i].circuit_breaker == doc.dependencies[i].circuit_breaker)
            << text;
    }
    // Turned off by a profile: written `off`, or the defaults would come back.
    EXPECT_FALSE(doc.find("quiet-one")->circuit_breaker.has_value());
    // Each alone (no defaults printed) loads back the same too.
    for (const dependency& dep : doc.dependencies) {
        const document one = load_string(explain(doc, dep.name));
        EXPECT_TRUE(one.dependencies[0].circuit_breaker == dep.circuit_breaker) << dep.name;
    }
}

TEST(config_explain, spells_a_breaker_out) {
    const document doc = load_string(with_breakers, "in.yaml");
    const std::string text = explain(doc, "timed");
    const std::string breaker = text.substr(text.find("    circuit_breaker:"));
    EXPECT_EQ(breaker, R"(    circuit_breaker:
      window: {kind: time, size: 1m30s, buckets: 9}
      min_calls: 4
      failure_ratio: 0.5
      consecutive_failures: 0
      slow_call: off
      record: []
      ignore: [throttled, permanent]
      break: {duration: 250ms, multiplier: 1.5, max: 1h, jitter: 0.125}
      half_open: {probes: 3, successes: 2, max_wait: 10s}
      scope: endpoint
      max_endpoints: 7
    retry_budget: {kind: ratio, percent: 20, min_per_second: 10, ttl: 10s}
)");
    EXPECT_NE(explain(doc, "quiet-one").find("    circuit_breaker: off\n"), std::string::npos);
}

TEST(config_explain, empty_document) {
    const document doc = load_string("version: 1\n");
    const document again = load_string(explain(doc));
    EXPECT_TRUE(again.dependencies.empty());
    expect_same(again.defaults, pipeline_policy{});
}

} // namespace
} // namespace keel::config
