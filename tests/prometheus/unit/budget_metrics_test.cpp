// keel::prometheus, retry budgets and adaptive throttling: the retries (or
// tokens) available, the retries refused and the refusal probability of a
// real budget_gate, read at each scrape at the metrics' clock; gauges that
// go with the gate; and keel_rejections_total{reason="throttled_locally"}
// when a real throttle refuses through a real pipeline (manual clock).
#include <keel/budget_gate.hpp>
#include <keel/pipeline.hpp>
#include <keel/prometheus/metrics.hpp>

#include "snapshot.hpp"
#include "support/scripted_op.hpp"
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <memory>
#include <stdexcept>
#include <string>

namespace keel::test {
namespace {

class budget_metrics_test : public ::testing::Test {
protected:
    budget_metrics_test() : metrics(options()) {}

    keel::prometheus::metrics_options options() {
        keel::prometheus::metrics_options o;
        o.breaker_clock = [this] { return scrape_at; };
        return o;
    }
    std::size_t series(const std::string& family) const {
        return snapshot(metrics.registry()).series(family, {{"dependency", "payments"}}).size();
    }
    double gauge(const std::string& family) const {
        return snapshot(metrics.registry()).gauge(family, {{"dependency", "payments"}});
    }
    double denied() const {
        return snapshot(metrics.registry())
            .counter("keel_retries_denied_total", {{"dependency", "payments"}});
    }

    clock_ticks scrape_at{0};
    keel::prometheus::metrics metrics;
};

TEST_F(budget_metrics_test, a_ratio_budget_shows_the_retries_left_and_counts_refusals) {
    auto budget = std::make_shared<retry_budget>(retry_budget_settings{});
    const auto gate = std::make_shared<budget_gate>(budget, nullptr); // watched weakly
    metrics.watch("payments", gate);
    EXPECT_EQ(gauge("keel_retry_budget_available"), 100.0) << "the reserve of 10/s x 10 s";
    for (int i = 0; i < 50; ++i)
        budget->deposit(clock_ticks{0});
    EXPECT_EQ(gauge("keel_retry_budget_available"), 110.0);
    for (int i = 0; i < 112; ++i)
        (void)budget->try_withdraw(clock_ticks{0});
    EXPECT_EQ(gauge("keel_retry_budget_available"), 0.0);
    EXPECT_EQ(denied(), 2.0);
    EXPECT_EQ(denied(), 2.0) << "a second scrape adds nothing";
    EXPECT_EQ(series("keel_throttle_rejection_ratio"), 0u) << "no throttle, no gauge";
}

TEST_F(budget_metrics_test, a_tokens_budget_shows_its_tokens) {
    retry_budget_settings s;
    s.kind = retry_budget_settings::budget_kind::tokens;
    s.max_tokens = 10;
    s.token_ratio = 0.1;
    auto budget = std::make_shared<retry_budget>(s);
    const auto gate = std::make_shared<budget_gate>(budget, nullptr); // watched weakly
    metrics.watch("payments", gate);
    for (int i = 0; i < 5; ++i)
        budget->on_attempt_end(attempt_result::failure, true);
    budget->on_attempt_end(attempt_result::success, false);
    EXPECT_DOUBLE_EQ(gauge("keel_retry_budget_available"), 5.1);
}

TEST_F(budget_metrics_test, the_throttle_shows_its_refusal_probability_at_the_scrape_time) {
    auto throttle = std::make_shared<adaptive_throttle>(adaptive_throttle_settings{});
    auto gate = std::make_shared<budget_gate>(nullptr, throttle);
    metrics.watch("payments", gate);
    for (int i = 0; i < 100; ++i)
        throttle->record_request(clock_ticks{0});
    for (int i = 0; i < 40; ++i)
        throttle->record_accept(clock_ticks{0});
    EXPECT_NEAR(gauge("keel_throttle_rejection_ratio"), 20.0 / 101.0, 1e-12);
    EXPECT_EQ(series("keel_retry_budget_available"), 0u) << "no budget, no gauge";
    scrape_at = std::chrono::minutes(2);
    EXPECT_EQ(gauge("keel_throttle_rejection_ratio"), 0.0) << "the window moved on";
    gate.reset();
    EXPECT_EQ(series("keel_throttle_rejection_ratio"), 0u) << "the gate is gone";
    EXPECT_THROW(metrics.watch("payments", std::shared_ptr<budget_gate>()), std::invalid_argument);
}

TEST_F(budget_metrics_test, a_throttled_call_counts_as_a_rejection_throttled_locally) {
    adaptive_throttle_settings s;
    s.min_requests = 1;
    s.max_rejection = 1.0;
    auto throttle = std::make_shared<adaptive_throttle>(s);
    manual_clock::reset();
    for (int i = 0; i < 1000; ++i) // no accept: refusal probability 1000/1001
        throttle->record_request(manual_clock::now().time_since_epoch());
    auto chain = std::make_shared<strategy_chain>();
    chain->gate = std::make_shared<budget_gate>(nullptr, throttle);
    pipeline_policy policy;
    policy.strategies = chain;
    asio::io_context context;
    basic_pipeline<manual_timer, keel::prometheus::dependency_metrics, asio::any_io_executor,
                   strategy_chain>
        p(context, "payments", policy, metrics.dependency("payments"));
    scripted_op op(context, {ok(1)});
    completion c;
    p.async_run(std::ref(op), record(c));
    run_for(context, 1s, [&] { return c.done(); });
    ASSERT_EQ(c.ec, make_error_code(errc::throttled_locally));
    EXPECT_EQ(op.calls(), 0);
    EXPECT_EQ(snapshot(metrics.registry())
                  .counter("keel_rejections_total",
                           {{"dependency", "payments"}, {"reason", "throttled_locally"}}),
              1.0);
}

} // namespace
} // namespace keel::test
