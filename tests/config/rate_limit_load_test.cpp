// Loading `rate_limit:`: every key of the issue's block, the merge order and
// `off`, positioned errors (all at once), the cap of a pushback taken from
// retry_after.max, --explain loading back equal, and the registry sharing one
// rate limiter per dependency.
#include <keel/config/document.hpp>
#include <keel/config/registry.hpp>
#include <keel/rate_limiter.hpp>

#include <asio/io_context.hpp>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace keel::config {
namespace {

using namespace std::chrono_literals;

TEST(config_rate_limit, every_key_is_read) {
    const document doc = load_string(R"(version: 1
dependencies:
  payments:
    retry: { retry_after: { max: 10s } }
    rate_limit: { rate: 200/s, burst: 50, max_wait: 20ms, honor_pushback: false }
  search: {}
)");
    const auto& limit = doc.find("payments")->rate_limit;
    ASSERT_TRUE(limit.has_value());
    rate_limit_settings want;
    want.rate = {200, 1s};
    want.burst = 50;
    want.max_wait = 20ms;
    want.honor_pushback = false;
    want.pushback_cap = 10s;
    EXPECT_TRUE(*limit == want);
    EXPECT_FALSE(doc.find("search")->rate_limit.has_value());
    EXPECT_FALSE(doc.defaults_rate_limit.has_value());
}

TEST(config_rate_limit, defaults_are_one_second_of_rate_no_wait_and_pushback_honoured) {
    const document doc =
        load_string("version: 1\ndependencies:\n  a: {rate_limit: {rate: 5/ms}}\n");
    const auto& limit = doc.find("a")->rate_limit;
    ASSERT_TRUE(limit.has_value());
    EXPECT_EQ(limit->rate, (token_rate{5, 1ms}));
    EXPECT_EQ(limit->burst, 5000) << "always set, so --explain loads back equal";
    EXPECT_EQ(limit->max_wait, 0ns);
    EXPECT_TRUE(limit->honor_pushback);
    EXPECT_EQ(limit->pushback_cap, retry_after_policy{}.max);
}

TEST(config_rate_limit, layers_merge_key_by_key_and_off_drops_what_came_before) {
    const document doc = load_string(R"(version: 1
defaults:
  rate_limit: { rate: 100/s, max_wait: 5ms }
profiles:
  slow: { rate_limit: { rate: 3000/m } }
dependencies:
  a: { extends: slow, rate_limit: { burst: 7 } }
  b: { rate_limit: off }
  c: { rate_limit: off, extends: slow }
)");
    const auto& a = doc.find("a")->rate_limit;
    ASSERT_TRUE(a.has_value());
    EXPECT_EQ(a->rate, (token_rate{3000, std::chrono::minutes(1)}));
    EXPECT_EQ(a->burst, 7);
    EXPECT_EQ(a->max_wait, 5ms) << "from defaults";
    EXPECT_FALSE(doc.find("b")->rate_limit.has_value());
    EXPECT_FALSE(doc.find("c")->rate_limit.has_value()) << "its own keys are the last layer";
    ASSERT_TRUE(doc.defaults_rate_limit.has_value());
    EXPECT_EQ(doc.defaults_rate_limit->burst, 100);
}

TEST(config_rate_limit, every_error_is_reported_at_once_with_its_position) {
    const load_result r = try_load_string(R"(version: 1
dependencies:
  d:
    rate_limit:
      rate: 10/d
      burst: 0
      max_wait: soon
      honor_pushback: yes
      rates: 1
  e:
    rate_limit: { burst: 3 }
  f:
    rate_limit: 100/s
)",
                                          "t.yaml");
    std::vector<std::string> got;
    for (const diagnostic& d : r.errors)
        got.push_back(d.to_string());
    const std::vector<std::string> want = {
        "t.yaml:5:13: error: dependencies.d.rate_limit.rate: unknown unit 'd' after '/' "
        "(expected ns, us, ms, s, m or h)",
        "t.yaml:6:14: error: dependencies.d.rate_limit.burst: expected a whole number >= 1, "
        "got \"0\"",
        "t.yaml:7:17: error: dependencies.d.rate_limit.max_wait: \"soon\" is not a duration "
        "(write e.g. 250ms or 1m30s)",
        "t.yaml:8:23: error: dependencies.d.rate_limit.honor_pushback: expected a boolean (true "
        "or false), got \"yes\"",
        "t.yaml:9:7: error: dependencies.d.rate_limit.rates: unknown key 'rates' (did you mean "
        "'rate'?); expected one of: rate, burst, max_wait, honor_pushback",
        // Once, where it was turned on; not after d's unreadable rate.
        "t.yaml:11:5: error: dependencies.e.rate_limit: missing rate (tokens per period, e.g. "
        "rate: 100/s)",
        "t.yaml:13:17: error: dependencies.f.rate_limit: expected a map such as {rate: 100/s, "
        "burst: 20, max_wait: 10ms} or 'off', got \"100/s\"",
    };
    EXPECT_EQ(got, want);
}

TEST(config_rate_limit, explain_writes_it_so_that_it_loads_back_equal) {
    const document doc = load_string(R"(version: 1
defaults:
  rate_limit: { rate: 100/s }
dependencies:
  a: { rate_limit: { rate: 3000/m, max_wait: 20ms, honor_pushback: false } }
  b: { rate_limit: off }
)");
    const std::string text = explain(doc);
    EXPECT_NE(text.find("rate_limit: {rate: 3000/m, burst: 50, max_wait: 20ms, "
                        "honor_pushback: false}"),
              std::string::npos)
        << text;
    const document again = load_string(text);
    EXPECT_TRUE(again.find("a")->rate_limit == doc.find("a")->rate_limit);
    EXPECT_FALSE(again.find("b")->rate_limit.has_value()) << "written as off";
    EXPECT_TRUE(again.defaults_rate_limit == doc.defaults_rate_limit);
}

TEST(config_rate_limit, every_pipeline_of_a_dependency_shares_one_rate_limiter) {
    const char* const text = R"(version: 1
dependencies:
  payments:
    circuit_breaker: {}
    rate_limit: { rate: 10/s, burst: 1 }
  search: { rate_limit: { rate: 10/s, burst: 1 } }
)";
    asio::io_context context;
    keel::strategy_registry strategies;
    registry first(context.get_executor(), load_string(text), observer_factory(), strategies);
    registry second(context.get_executor(), load_string(text), observer_factory(), strategies);
    const auto limiter = first.pipeline("payments").policy().strategies->rate_limiter;
    ASSERT_NE(limiter, nullptr);
    EXPECT_NE(first.pipeline("payments").policy().strategies->breaker, nullptr)
        << "beside the breaker";
    EXPECT_EQ(second.pipeline("payments").policy().strategies->rate_limiter, limiter);
    const auto search = first.pipeline("search").policy().strategies->rate_limiter;
    ASSERT_NE(search, nullptr);
    EXPECT_NE(search, limiter) << "one per dependency";
    EXPECT_EQ(second.pipeline("search").policy().strategies->rate_limiter, search);
}

} // namespace
} // namespace keel::config
