// keel::prometheus, fault injection: keel_faults_injected_total{dependency,
// kind} counts what a real plan injected into real calls (manual clock), at
// zero for every kind from the first scrape, and a new plan (a reload)
// counts on from where the old one's left the counter.
#include <keel/fault_injection.hpp>
#include <keel/pipeline.hpp>
#include <keel/prometheus/metrics.hpp>

#include "snapshot.hpp"
#include "support/scripted_op.hpp"
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace keel::test {
namespace {

using manual_pipeline = basic_pipeline<manual_timer>;

class fault_metrics_test : public ::testing::Test {
protected:
    void SetUp() override {
        manual_clock::reset();
        enable_fault_injection(true);
    }
    void TearDown() override { enable_fault_injection(false); }

    double injected(const std::string& kind) const {
        return snapshot(metrics.registry())
            .counter("keel_faults_injected_total", {{"dependency", "payments"}, {"kind", kind}});
    }

    static std::shared_ptr<fault_plan> refusing_plan() {
        fault_rule r;
        r.kind = fault_kind::error;
        r.rate = 1.0;
        r.error = asio::error::connection_refused;
        return std::make_shared<fault_plan>(std::vector<fault_rule>{r});
    }

    void run_calls(const std::shared_ptr<fault_plan>& plan, int calls) {
        pipeline_policy p;
        p.retry.max_attempts = 1;
        p.faults = plan;
        manual_pipeline pipeline(context, "payments", p);
        scripted_op op(context, {ok(1)});
        for (int i = 0; i < calls; ++i) {
            completion done;
            pipeline.async_run(std::ref(op), record(done));
            run_for(context, 1s, [&] { return done.done(); });
        }
    }

    asio::io_context context;
    keel::prometheus::metrics metrics;
};

TEST_F(fault_metrics_test, injections_are_counted_by_kind_from_zero) {
    const auto plan = refusing_plan();
    metrics.watch("payments", plan);
    EXPECT_EQ(injected("error"), 0.0);
    EXPECT_EQ(injected("latency"), 0.0) << "every kind from the first scrape";
    run_calls(plan, 3);
    EXPECT_EQ(injected("error"), 3.0);
    EXPECT_EQ(injected("error"), 3.0) << "a second scrape adds nothing";
    EXPECT_EQ(injected("hang"), 0.0);
}

TEST_F(fault_metrics_test, a_new_plan_counts_on) {
    const auto first = refusing_plan();
    metrics.watch("payments", first);
    run_calls(first, 2);
    EXPECT_EQ(injected("error"), 2.0);
    const auto second = refusing_plan(); // a reload's
    metrics.watch("payments", second);
    run_calls(second, 1);
    EXPECT_EQ(injected("error"), 3.0);
}

TEST_F(fault_metrics_test, a_null_plan_is_refused) {
    EXPECT_THROW(metrics.watch("payments", std::shared_ptr<fault_plan>()), std::invalid_argument);
}

} // namespace
} // namespace keel::test
