// Loading `hedge:`: off unless written, every key read, layers merged key by
// key, `off`, positioned errors (all at once), the exclusion of a written
// retry.max_attempts above 1, --explain loading back equal, and the registry
// sharing one hedging per dependency, with its retry budget, across reloads
// and hedging an idempotent call on the manual clock.
#include <keel/config/document.hpp>
#include <keel/config/registry.hpp>
#include <keel/idempotent.hpp>

#include "../core/support/scripted_op.hpp"
#include "registry_support.hpp"
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace keel::config {
namespace {

using namespace std::chrono_literals;

std::vector<std::string> errors_of(const std::string& text) {
    std::vector<std::string> got;
    for (const diagnostic& d : try_load_string(text, "t.yaml").errors)
        got.push_back(d.to_string());
    return got;
}

TEST(config_hedge, off_unless_written) {
    const document doc = load_string("version: 1\ndependencies:\n  a: {}\n");
    EXPECT_FALSE(doc.find("a")->hedge.has_value());
    EXPECT_FALSE(doc.defaults_hedge.has_value());
    EXPECT_EQ(doc.find("a")->policy.retry.max_attempts, 3) << "the built-in retries stay";
}

TEST(config_hedge, every_key_is_read_and_layers_merge_key_by_key) {
    const document doc = load_string(R"(version: 1
defaults:
  hedge: { max_attempts: 3, delay: 20ms }
profiles:
  quantile: { hedge: { delay: p99.9, min_samples: 50, fallback_delay: 40ms } }
dependencies:
  a: { extends: quantile, hedge: { non_fatal: [transient], min_remaining: 30ms } }
  b: {}
  c: { hedge: off }
  d: { hedge: off, extends: quantile }
  e: { hedge: {}, retry: { max_attempts: 1 } }
)");
    const auto& a = doc.find("a")->hedge;
    ASSERT_TRUE(a.has_value());
    EXPECT_EQ(a->max_attempts, 3) << "from defaults";
    ASSERT_TRUE(a->delay_quantile.has_value()) << "from the profile";
    EXPECT_DOUBLE_EQ(*a->delay_quantile, 0.999);
    EXPECT_EQ(a->min_samples, 50);
    EXPECT_EQ(a->fallback_delay, 40ms);
    EXPECT_EQ(a->non_fatal, fault_set{fault_class::transient});
    EXPECT_EQ(a->min_remaining, std::optional<std::chrono::nanoseconds>(30ms));
    EXPECT_EQ(doc.find("a")->policy.retry.max_attempts, 1)
        << "a hedged dependency retries nothing itself";
    const auto& b = doc.find("b")->hedge;
    ASSERT_TRUE(b.has_value());
    EXPECT_EQ(b->delay, 20ms);
    EXPECT_FALSE(b->delay_quantile.has_value());
    EXPECT_EQ(b->non_fatal, (fault_set{fault_class::transient, fault_class::throttled}));
    EXPECT_FALSE(b->min_remaining.has_value()) << "unset: the delay in force";
    EXPECT_FALSE(doc.find("c")->hedge.has_value());
    EXPECT_EQ(doc.find("c")->policy.retry.max_attempts, 3) << "no hedge: the built-in retries";
    EXPECT_FALSE(doc.find("d")->hedge.has_value()) << "own keys come after the profiles";
    const auto& e = doc.find("e")->hedge;
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->max_attempts, 3) << "an empty map keeps what the layers below set";
    EXPECT_EQ(e->delay, 20ms);
    ASSERT_TRUE(doc.defaults_hedge.has_value());
    EXPECT_EQ(doc.defaults.retry.max_attempts, 1);
}

TEST(config_hedge, every_error_is_reported_at_once_with_its_position) {
    const std::vector<std::string> want = {
        "t.yaml:4:28: error: dependencies.a.hedge.max_attempts: must be <= 5, got 6",
        "t.yaml:4:38: error: dependencies.a.hedge.delay: expected a percentile such as p50, "
        "p95, p99 or p99.9, got \"pp95\"",
        "t.yaml:4:57: error: dependencies.a.hedge.min_samples: expected a whole number >= 1, got "
        "\"0\"",
        "t.yaml:5:24: error: dependencies.b.hedge.delay: a percentile must be between p0 and "
        "p100, both excluded, got \"p100\"",
        "t.yaml:5:42: error: dependencies.b.hedge.non_fatal[0]: unknown fault class 'transent' "
        "(did you mean 'transient'?); expected one of: transient, timeout, throttled, "
        "permanent, cancelled, rejected",
        "t.yaml:5:53: error: dependencies.b.hedge.min_remainng: unknown key 'min_remainng' (did "
        "you mean 'min_remaining'?); expected one of: max_attempts, delay, min_samples, "
        "fallback_delay, non_fatal, min_remaining",
        "t.yaml:6:15: error: dependencies.c.hedge: expected a map such as {max_attempts: 3, "
        "delay: p95, fallback_delay: 50ms} or 'off', got \"on\"",
        "t.yaml:7:24: error: dependencies.d.hedge.delay: duration \"50\" needs a unit (ns, us, "
        "ms, s, m, h)",
    };
    EXPECT_EQ(errors_of(R"(version: 1
dependencies:
  a:
    hedge: { max_attempts: 6, delay: pp95, min_samples: 0 }
  b: { hedge: { delay: p100, non_fatal: [transent], min_remainng: 1s } }
  c: { hedge: on }
  d: { hedge: { delay: 50 } }
)"),
              want);
}

TEST(config_hedge, retries_above_one_are_an_error_at_the_hedge) {
    const std::vector<std::string> want = {
        // Its own retries and its own hedge.
        "t.yaml:6:5: error: dependencies.both.hedge: cannot be combined with retry.max_attempts "
        "3 (from dependencies.both.retry.max_attempts at 5:14): a hedge makes its own attempts; "
        "write retry.max_attempts: 1 or hedge: off",
        // Retries from defaults, the hedge its own.
        "t.yaml:7:16: error: dependencies.own-hedge.hedge: cannot be combined with "
        "retry.max_attempts 4 (from defaults.retry.max_attempts at 2:22): a hedge makes its own "
        "attempts; write retry.max_attempts: 1 or hedge: off",
    };
    EXPECT_EQ(errors_of(R"(version: 1
defaults: { retry: { max_attempts: 4 } }
dependencies:
  both:
    retry: { max_attempts: 3 }
    hedge: { delay: 10ms }
  own-hedge: { hedge: {} }
  undone: { hedge: {}, retry: { max_attempts: 1 } }
  none: {}
)"),
              want);
    // In defaults both: reported once, by the check of defaults.
    const std::vector<std::string> in_defaults = errors_of(R"(version: 1
defaults:
  retry: { max_attempts: 2 }
  hedge: {}
dependencies:
  a: {}
  b: {}
)");
    ASSERT_EQ(in_defaults.size(), 1u);
    EXPECT_EQ(in_defaults[0].rfind("t.yaml:4:3: error: defaults.hedge: cannot be combined", 0), 0u)
        << in_defaults[0];
}

TEST(config_hedge, explain_shows_it_and_loads_back_equal) {
    const document doc = load_string(R"(version: 1
defaults:
  hedge: { max_attempts: 3, delay: 30ms }
dependencies:
  inherits: {}
  quantile: { hedge: { delay: p95, min_samples: 100, fallback_delay: 50ms, min_remaining: 30ms } }
  none: { hedge: off }
  fatal: { hedge: { non_fatal: [] } }
)",
                                     "in.yaml");
    const std::string text = explain(doc);
    EXPECT_NE(text.find("    hedge: {max_attempts: 3, delay: p95, min_samples: 100, "
                        "fallback_delay: 50ms, non_fatal: [transient, throttled], "
                        "min_remaining: 30ms}\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("    hedge: off\n"), std::string::npos) << text;
    const document again = load_string(text, "explained.yaml");
    EXPECT_EQ(again.defaults_hedge, doc.defaults_hedge);
    EXPECT_EQ(again.defaults.retry.max_attempts, doc.defaults.retry.max_attempts);
    for (const char* name : {"inherits", "quantile", "none", "fatal"}) {
        EXPECT_EQ(again.find(name)->hedge, doc.find(name)->hedge) << name;
        EXPECT_EQ(again.find(name)->policy.retry.max_attempts,
                  doc.find(name)->policy.retry.max_attempts)
            << name;
        const document one = load_string(explain(doc, name));
        EXPECT_EQ(one.find(name)->hedge, doc.find(name)->hedge) << name;
    }
}

class config_registry_hedge : public test::registry_fixture {
protected:
    void SetUp() override { keel::test::manual_clock::reset(); }
};

/// The hedging in `p`'s chain, or null.
std::shared_ptr<hedging> hedging_of(configured_pipeline& p) {
    if (const auto& chain = p.policy().strategies)
        return std::dynamic_pointer_cast<hedging>(chain->parallel);
    return nullptr;
}

TEST_F(config_registry_hedge, one_hedging_per_dependency_with_its_budget_kept_across_reloads) {
    const std::string text = R"(version: 1
dependencies:
  reads: { hedge: { max_attempts: 3, delay: 50ms } }
  unbudgeted: { hedge: {}, retry_budget: off }
  plain: { retry: { max_attempts: 1 } }
)";
    const auto first = make(text);
    const auto second = make(text);
    const auto hedges = hedging_of(first->pipeline("reads"));
    ASSERT_NE(hedges, nullptr);
    EXPECT_EQ(hedges->settings().max_attempts, 3);
    EXPECT_EQ(hedging_of(second->pipeline("reads")), hedges) << "one per dependency";
    ASSERT_NE(first->pipeline("reads").policy().strategies->gate, nullptr)
        << "the budget gates hedges though retry.max_attempts is 1";
    EXPECT_EQ(first->pipeline("unbudgeted").policy().strategies->gate, nullptr);
    EXPECT_NE(hedging_of(first->pipeline("unbudgeted")), nullptr);
    EXPECT_EQ(first->pipeline("plain").policy().strategies, nullptr);

    first->apply(
        test::load(test::edited(text, "delay: 50ms }", "delay: 50ms, min_samples: 100 }")));
    EXPECT_EQ(hedging_of(first->pipeline("reads")), hedges) << "the same settings written out";
    first->apply(test::load(test::edited(text, "delay: 50ms", "delay: 20ms")));
    const auto changed = hedging_of(first->pipeline("reads"));
    ASSERT_NE(changed, nullptr);
    EXPECT_NE(changed, hedges);
    EXPECT_EQ(changed->settings().delay, 20ms);
    first->apply(test::load(test::edited(text, "{ hedge: { max_attempts: 3, delay: 50ms } }",
                                         "{ hedge: off, retry: { max_attempts: 1 } }")));
    EXPECT_EQ(first->pipeline("reads").policy().strategies, nullptr)
        << "no hedge and no retry: nothing left to run";
}

/// The registry's policy for `name`, run on the manual clock.
struct manual_run {
    keel::test::completion done;
    call_report report;
    std::vector<std::chrono::nanoseconds> starts;
};

template <class Call>
manual_run run_policy(asio::io_context& context, const pipeline_policy& policy, Call call,
                      keel::test::scripted_op& op) {
    basic_pipeline<keel::test::manual_timer, null_observer, asio::any_io_executor, strategy_chain>
        pipe(context, "reads", policy);
    manual_run out;
    const auto begin = keel::test::manual_clock::now();
    pipe.async_run(std::move(call), out.report, keel::test::record(out.done));
    keel::test::run_for(context, 10s, [&] { return out.done.done(); });
    for (const keel::test::seen_attempt& s : op.seen())
        out.starts.push_back(s.started - begin);
    return out;
}

TEST_F(config_registry_hedge, a_configured_hedge_hedges_idempotent_calls_only) {
    const auto reg = make(R"(version: 1
dependencies:
  reads: { hedge: { max_attempts: 3, delay: 50ms }, timeout: { total: 1s } }
)");
    const pipeline_policy& policy = reg->pipeline("reads").policy();
    {
        // Slow primary; hedge 2 at 50 ms answers 30 ms later and wins.
        keel::test::scripted_op op(context, {keel::test::ok(1, 200ms), keel::test::ok(2, 30ms)});
        const manual_run r = run_policy(context, policy, keel::idempotent(std::ref(op)), op);
        ASSERT_TRUE(r.done.done());
        EXPECT_FALSE(r.done.ec);
        EXPECT_EQ(r.done.value, 2);
        EXPECT_EQ(r.report.attempts, 2);
        EXPECT_EQ(r.starts, (std::vector<std::chrono::nanoseconds>{0ms, 50ms}));
    }
    {
        // Not said to be idempotent: one attempt, however slow.
        keel::test::scripted_op op(context, {keel::test::ok(1, 200ms), keel::test::ok(2, 30ms)});
        const manual_run r = run_policy(context, policy, std::ref(op), op);
        ASSERT_TRUE(r.done.done());
        EXPECT_EQ(r.done.value, 1);
        EXPECT_EQ(r.report.attempts, 1);
        EXPECT_EQ(r.starts, (std::vector<std::chrono::nanoseconds>{0ms}));
    }
}

} // namespace
} // namespace keel::config
