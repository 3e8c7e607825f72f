// keel::prometheus and hedging: keel_hedges_total{result} counts the hedges
// that won, lost and were suppressed, from real calls through a pipeline
// with keel::hedging (manual clock).
#include <keel/hedging.hpp>
#include <keel/idempotent.hpp>
#include <keel/pipeline.hpp>
#include <keel/prometheus/metrics.hpp>

#include "snapshot.hpp"
#include "support/scripted_op.hpp"
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>
#include <vector>

namespace keel::test {
namespace {

class hedge_metrics_test : public ::testing::Test {
protected:
    void SetUp() override { manual_clock::reset(); }

    double hedges(const std::string& result) const {
        return snapshot(metrics.registry())
            .counter("keel_hedges_total", {{"dependency", "catalog"}, {"result", result}});
    }

    /// One call of `steps` under a hedge after 50 ms, up to 3 attempts,
    /// with `min_remaining` before a total deadline of `total`.
    void call(std::vector<step> steps, std::chrono::nanoseconds total = 10s,
              std::chrono::nanoseconds min_remaining = 0ms) {
        hedge_settings s;
        s.max_attempts = 3;
        s.delay = 50ms;
        s.min_remaining = min_remaining;
        auto chain = std::make_shared<strategy_chain>();
        chain->parallel = std::make_shared<hedging>(s);
        pipeline_policy policy;
        policy.timeout.total = total;
        policy.strategies = chain;
        basic_pipeline<manual_timer, keel::prometheus::dependency_metrics, asio::any_io_executor,
                       strategy_chain>
            p(context, "catalog", policy, metrics.dependency("catalog"));
        scripted_op op(context, std::move(steps));
        completion c;
        p.async_run(keel::idempotent(std::ref(op)), record(c));
        run_for(context, 2s, [&] { return c.done(); });
        ASSERT_EQ(c.calls, 1);
    }

    asio::io_context context;
    keel::prometheus::metrics metrics;
};

TEST_F(hedge_metrics_test, every_result_is_shown_at_zero_from_the_first_scrape) {
    (void)metrics.dependency("catalog");
    EXPECT_EQ(hedges("won"), 0.0);
    EXPECT_EQ(hedges("lost"), 0.0);
    EXPECT_EQ(hedges("suppressed"), 0.0);
}

TEST_F(hedge_metrics_test, won_lost_and_suppressed_hedges_are_counted) {
    call({ok(1, 30ms)}); // answered before the delay: no hedge
    EXPECT_EQ(hedges("won") + hedges("lost") + hedges("suppressed"), 0.0);
    call({ok(1, 200ms), ok(2, 30ms)}); // the hedge wins
    EXPECT_EQ(hedges("won"), 1.0);
    EXPECT_EQ(hedges("lost"), 0.0);
    call({ok(1, 70ms), ok(2, 100ms)}); // the primary wins beside its hedge
    EXPECT_EQ(hedges("won"), 1.0);
    EXPECT_EQ(hedges("lost"), 1.0);
    call({ok(1, 70ms)}, 90ms, 50ms); // due at 50 ms with 40 ms left: kept back
    EXPECT_EQ(hedges("suppressed"), 1.0);
    EXPECT_EQ(hedges("won"), 1.0);
    EXPECT_EQ(hedges("lost"), 1.0);
}

} // namespace
} // namespace keel::test
