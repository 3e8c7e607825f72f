// keel::prometheus and fallbacks: keel_fallbacks_total{trigger,result} counts
// the fallbacks real calls ran (keel::with_fallback through a pipeline, on the
// manual clock) by the fault class that made them run and whether they
// answered; a call whose fallback did not run counts nothing.
#include <keel/circuit_breaker.hpp>
#include <keel/fallback.hpp>
#include <keel/pipeline.hpp>
#include <keel/prometheus/metrics.hpp>
#include <keel/strategy.hpp>

#include "snapshot.hpp"
#include "support/scripted_op.hpp"
#include "support/test_fallback.hpp"
#include <asio/error.hpp>
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>
#include <vector>

namespace keel::test {
namespace {

using metered_pipeline = basic_pipeline<manual_timer, keel::prometheus::dependency_metrics,
                                        asio::any_io_executor, strategy_chain>;

/// Every series' key ("trigger/result"), all at zero unless given.
counts only_fallbacks(const counts& nonzero) {
    std::vector<std::string> keys;
    for (const char* trigger :
         {"transient", "timeout", "throttled", "permanent", "cancelled", "rejected"})
        for (const char* result : {"success", "failure"})
            keys.push_back(std::string(trigger) + "/" + result);
    return only(keys, nonzero);
}

class fallback_metrics_test : public ::testing::Test {
protected:
    void SetUp() override { manual_clock::reset(); }

    /// keel_fallbacks_total of "prices" by "trigger/result".
    counts fallbacks() const {
        counts out;
        for (const auto& m : snapshot(metrics.registry())
                                 .series("keel_fallbacks_total", {{"dependency", "prices"}})) {
            std::string trigger, result;
            for (const auto& l : m.label) {
                if (l.name == "trigger")
                    trigger = l.value;
                else if (l.name == "result")
                    result = l.value;
            }
            out[trigger + "/" + result] = m.counter.value;
        }
        return out;
    }
    double calls(const std::string& outcome) const {
        return snapshot(metrics.registry())
            .counter("keel_calls_total", {{"dependency", "prices"}, {"outcome", outcome}});
    }

    /// One call of `steps` through `policy`, with a fallback that answers 99
    /// or fails with `fallback_error`; nullptr: no fallback at all.
    call_report call(const pipeline_policy& policy, std::vector<step> steps,
                     const std::error_code* fallback_error) {
        metered_pipeline p(context, "prices", policy, metrics.dependency("prices"));
        scripted_op op(context, std::move(steps));
        call_report report;
        completion c;
        if (fallback_error)
            p.async_run(
                with_fallback(std::ref(op), test_fallback{&context, *fallback_error, 99, &seen}),
                report, record(c));
        else
            p.async_run(std::ref(op), report, record(c));
        run_for(context, 5s, [&] { return c.done(); });
        EXPECT_EQ(c.calls, 1);
        return report;
    }

    /// A policy whose circuit breaker is held open (an operator's isolate()).
    static pipeline_policy behind_an_open_breaker() {
        auto breaker = std::make_shared<circuit_breaker>(circuit_breaker_settings{});
        breaker->isolate(0s);
        auto chain = std::make_shared<strategy_chain>();
        chain->breaker = breaker;
        pipeline_policy policy;
        policy.strategies = chain;
        return policy;
    }

    asio::io_context context;
    keel::prometheus::metrics metrics;
    std::vector<fallback_context> seen;
    const std::error_code answers{};
};

TEST_F(fallback_metrics_test, every_trigger_and_result_is_shown_at_zero_from_the_first_scrape) {
    (void)metrics.dependency("prices");
    EXPECT_EQ(fallbacks(), only_fallbacks({}));
}

TEST_F(fallback_metrics_test,
       a_breaker_open_call_answered_by_its_fallback_counts_rejected_success) {
    const call_report report = call(behind_an_open_breaker(), {ok(1)}, &answers);
    ASSERT_EQ(report.outcome, call_outcome::fallback);
    EXPECT_EQ(report.original_error, make_error_code(errc::circuit_open));
    EXPECT_EQ(report.original_fault, fault_class::rejected);
    EXPECT_EQ(fallbacks(), only_fallbacks({{"rejected/success", 1}}));
    EXPECT_EQ(calls("fallback"), 1.0);
    EXPECT_EQ(calls("rejected"), 0.0) << "the caller got the fallback's answer";
}

TEST_F(fallback_metrics_test, a_failing_fallback_counts_failure_under_the_original_trigger) {
    pipeline_policy policy;
    policy.retry.max_attempts = 1;
    policy.timeout.exchange = 50ms;
    policy.timeout.total = 1s;
    const std::error_code unreachable = asio::error::host_unreachable;
    const call_report report = call(policy, {ok(1, 200ms)}, &unreachable); // cut at 50 ms
    EXPECT_EQ(report.outcome, call_outcome::timeout) << "the call keeps its own error";
    EXPECT_EQ(report.fallback_error, unreachable);
    EXPECT_EQ(fallbacks(), only_fallbacks({{"timeout/failure", 1}}));
    EXPECT_EQ(calls("fallback"), 0.0);
}

TEST_F(fallback_metrics_test, a_call_whose_fallback_did_not_run_counts_nothing) {
    pipeline_policy policy;
    policy.retry.max_attempts = 1;
    const std::error_code refused = asio::error::connection_refused;
    call(policy, {fail(refused)}, nullptr);                     // no fallback
    call(policy, {ok(1)}, &answers);                            // a fallback, not needed
    call(policy, {fail(asio::error::access_denied)}, &answers); // permanent: not in `on`
    EXPECT_TRUE(seen.empty());
    EXPECT_EQ(fallbacks(), only_fallbacks({}));
    EXPECT_EQ(calls("failure"), 2.0);
    EXPECT_EQ(calls("success"), 1.0);
}

TEST_F(fallback_metrics_test, counts_add_up_per_trigger_and_result) {
    pipeline_policy policy;
    policy.retry.max_attempts = 1;
    const std::error_code refused = asio::error::connection_refused;
    const std::error_code unreachable = asio::error::host_unreachable;
    call(policy, {fail(refused)}, &answers);
    call(policy, {fail(refused)}, &answers);
    call(policy, {fail(refused)}, &unreachable);
    call(behind_an_open_breaker(), {ok(1)}, &unreachable);
    EXPECT_EQ(fallbacks(),
              only_fallbacks(
                  {{"transient/success", 2}, {"transient/failure", 1}, {"rejected/failure", 1}}));
    EXPECT_EQ(calls("fallback"), 2.0);
}

} // namespace
} // namespace keel::test
