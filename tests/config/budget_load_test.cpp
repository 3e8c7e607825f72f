// Loading `retry_budget:` and `adaptive_throttle:`: the budget on by default
// with Finagle's settings, `off`, the merge order, positioned errors (all at
// once, with did-you-mean), --explain loading back equal, and the registry
// sharing one budget and one throttle per dependency across reloads.
#include <keel/budget_gate.hpp>
#include <keel/config/document.hpp>
#include <keel/config/registry.hpp>

#include "registry_support.hpp"
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace keel::config {
namespace {

using namespace std::chrono_literals;
using budget_kind = retry_budget_settings::budget_kind;

TEST(config_retry_budget, on_by_default_with_finagles_settings) {
    const document doc = load_string("version: 1\ndependencies:\n  a: {}\n");
    const auto& budget = doc.find("a")->retry_budget;
    ASSERT_TRUE(budget.has_value());
    EXPECT_EQ(budget->kind, budget_kind::ratio);
    EXPECT_EQ(budget->percent, 20.0);
    EXPECT_EQ(budget->min_per_second, 10.0);
    EXPECT_EQ(budget->ttl, 10s);
    ASSERT_TRUE(doc.defaults_retry_budget.has_value());
    EXPECT_FALSE(doc.find("a")->adaptive_throttle.has_value()) << "throttling is opt-in";
}

TEST(config_retry_budget, every_key_is_read_and_layers_merge_key_by_key) {
    const document doc = load_string(R"(version: 1
defaults:
  retry_budget: { percent: 50, ttl: 20s }
  adaptive_throttle: { k: 1.5 }
profiles:
  tight: { retry_budget: { min_per_second: 1 } }
  tokens: { retry_budget: { kind: tokens, max_tokens: 10, token_ratio: 0.5 } }
dependencies:
  a: { extends: tight, retry_budget: { percent: 10 } }
  b: { extends: tokens }
  c: { retry_budget: off, adaptive_throttle: off }
  d: { extends: tight, retry_budget: off }
  e: { retry_budget: off, extends: tight }
  f: { adaptive_throttle: { window: 30s, min_requests: 5, max_rejection: 0.5, seed: 7 } }
)");
    const auto& a = doc.find("a")->retry_budget;
    ASSERT_TRUE(a.has_value());
    EXPECT_EQ(a->percent, 10.0) << "its own keys are the last layer";
    EXPECT_EQ(a->min_per_second, 1.0) << "from the profile";
    EXPECT_EQ(a->ttl, 20s) << "from defaults";
    const auto& b = doc.find("b")->retry_budget;
    ASSERT_TRUE(b.has_value());
    EXPECT_EQ(b->kind, budget_kind::tokens);
    EXPECT_EQ(b->max_tokens, 10.0);
    EXPECT_EQ(b->token_ratio, 0.5);
    EXPECT_FALSE(doc.find("c")->retry_budget.has_value());
    EXPECT_FALSE(doc.find("c")->adaptive_throttle.has_value());
    EXPECT_FALSE(doc.find("d")->retry_budget.has_value());
    // Own keys come after the profiles, whatever their order in the file.
    EXPECT_FALSE(doc.find("e")->retry_budget.has_value());
    const auto& f = doc.find("f")->adaptive_throttle;
    ASSERT_TRUE(f.has_value());
    EXPECT_EQ(f->k, 1.5) << "from defaults";
    EXPECT_EQ(f->window, 30s);
    EXPECT_EQ(f->min_requests, 5);
    EXPECT_EQ(f->max_rejection, 0.5);
    EXPECT_EQ(f->seed, 7u);
    ASSERT_TRUE(doc.find("a")->adaptive_throttle.has_value());
    EXPECT_EQ(doc.find("a")->adaptive_throttle->window, 2min);
    EXPECT_EQ(doc.find("a")->adaptive_throttle->min_requests, 20);
    EXPECT_EQ(doc.find("a")->adaptive_throttle->max_rejection, 0.9);
}

TEST(config_retry_budget, every_error_is_reported_at_once_with_its_position) {
    const load_result r = try_load_string(R"(version: 1
dependencies:
  d:
    retry_budget:
      kind: ratoi
      percent: -5
      min_per_secnd: 10
      ttl: 10
  e:
    retry_budget: { kind: tokens, percent: 20, max_tokens: 0 }
  f:
    retry_budget: 20%
  g:
    adaptive_throttle: { k: 0.5, window: 0s, min_request: 3, max_rejection: 2 }
)",
                                          "t.yaml");
    std::vector<std::string> got;
    for (const diagnostic& d : r.errors)
        got.push_back(d.to_string());
    const std::vector<std::string> want = {
        "t.yaml:5:13: error: dependencies.d.retry_budget.kind: unknown retry budget kind "
        "'ratoi' (did you mean 'ratio'?); expected one of: ratio, tokens",
        "t.yaml:6:16: error: dependencies.d.retry_budget.percent: must be in [0, 1000], got -5",
        "t.yaml:7:7: error: dependencies.d.retry_budget.min_per_secnd: unknown key "
        "'min_per_secnd' (did you mean 'min_per_second'?); expected one of: kind, percent, "
        "min_per_second, ttl, max_tokens, token_ratio",
        "t.yaml:8:12: error: dependencies.d.retry_budget.ttl: duration \"10\" needs a unit (ns, "
        "us, ms, s, m, h)",
        "t.yaml:10:35: error: dependencies.e.retry_budget.percent: not a setting of kind tokens "
        "(kind ratio has it)",
        "t.yaml:10:60: error: dependencies.e.retry_budget.max_tokens: must be in (0, 1000], got 0",
        "t.yaml:12:19: error: dependencies.f.retry_budget: expected a map such as {kind: ratio, "
        "percent: 20, min_per_second: 10, ttl: 10s} or 'off', got \"20%\"",
        "t.yaml:14:29: error: dependencies.g.adaptive_throttle.k: must be in [1, 100], got 0.5",
        "t.yaml:14:42: error: dependencies.g.adaptive_throttle.window: must be positive, got 0s",
        "t.yaml:14:46: error: dependencies.g.adaptive_throttle.min_request: unknown key "
        "'min_request' (did you mean 'min_requests'?); expected one of: k, window, "
        "min_requests, max_rejection, seed",
        "t.yaml:14:77: error: dependencies.g.adaptive_throttle.max_rejection: must be in [0, 1], "
        "got 2",
    };
    EXPECT_EQ(got, want);
}

TEST(config_retry_budget, explain_shows_them_and_loads_back_equal) {
    const document doc = load_string(R"(version: 1
dependencies:
  plain: {}
  tokens: { retry_budget: { kind: tokens, max_tokens: 10, token_ratio: 0.1 } }
  none: { retry_budget: off, adaptive_throttle: { k: 3, seed: 9 } }
)",
                                     "in.yaml");
    const std::string text = explain(doc);
    EXPECT_NE(text.find("    retry_budget: {kind: ratio, percent: 20, min_per_second: 10, ttl: "
                        "10s}\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("    retry_budget: {kind: tokens, max_tokens: 10, token_ratio: 0.1}\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("    retry_budget: off\n    adaptive_throttle: {k: 3.0, window: 2m, "
                        "min_requests: 20, max_rejection: 0.9, seed: 9}\n"),
              std::string::npos)
        << text;
    const document again = load_string(text, "explained.yaml");
    for (const char* name : {"plain", "tokens", "none"}) {
        EXPECT_EQ(again.find(name)->retry_budget, doc.find(name)->retry_budget) << name;
        EXPECT_EQ(again.find(name)->adaptive_throttle, doc.find(name)->adaptive_throttle) << name;
    }
}

class config_registry_budget : public test::registry_fixture {};

std::shared_ptr<budget_gate> gate_of(configured_pipeline& p) {
    const auto& chain = p.policy().strategies;
    return chain ? std::dynamic_pointer_cast<budget_gate>(chain->gate) : nullptr;
}

TEST_F(config_registry_budget, one_budget_per_dependency_kept_across_reloads_when_unchanged) {
    const std::string text = R"(version: 1
dependencies:
  payments: { adaptive_throttle: { k: 2 } }
  search: { retry_budget: off }
  once: { retry: { max_attempts: 1 } }
)";
    const auto first = make(text);
    const auto second = make(text);
    const auto gate = gate_of(first->pipeline("payments"));
    ASSERT_NE(gate, nullptr) << "on by default";
    ASSERT_NE(gate->budget(), nullptr);
    ASSERT_NE(gate->throttle(), nullptr);
    EXPECT_EQ(gate_of(second->pipeline("payments"))->budget(), gate->budget());
    EXPECT_EQ(gate_of(second->pipeline("payments"))->throttle(), gate->throttle());
    EXPECT_EQ(first->pipeline("search").policy().strategies, nullptr) << "off: no chain";
    EXPECT_EQ(first->pipeline("once").policy().strategies, nullptr)
        << "nothing to gate without retries";

    first->apply(test::load(test::edited(text, "{ k: 2 }", "{ k: 2, window: 2m }")));
    EXPECT_EQ(gate_of(first->pipeline("payments"))->budget(), gate->budget());
    EXPECT_EQ(gate_of(first->pipeline("payments"))->throttle(), gate->throttle())
        << "the same settings, written out: the same throttle";
    first->apply(test::load(test::edited(text, "{ k: 2 }", "{ k: 3 }")));
    EXPECT_NE(gate_of(first->pipeline("payments"))->throttle(), gate->throttle());
    EXPECT_EQ(gate_of(first->pipeline("payments"))->budget(), gate->budget());
    first->apply(test::load(test::edited(text, "payments: { adaptive_throttle: { k: 2 } }",
                                         "payments: { retry_budget: { percent: 30 } }")));
    ASSERT_NE(gate_of(first->pipeline("payments")), nullptr);
    EXPECT_EQ(gate_of(first->pipeline("payments"))->throttle(), nullptr);
    EXPECT_NE(gate_of(first->pipeline("payments"))->budget(), gate->budget());
}

} // namespace
} // namespace keel::config
