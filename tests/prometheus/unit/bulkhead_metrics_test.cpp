// keel::prometheus, bulkheads and rate limits: the keel_bulkhead_* gauges of
// a real keel::bulkhead read at each scrape, the two admission-wait
// histograms fed events::admission_wait, and keel_rejections_total by reason
// when a real bulkhead refuses through a real pipeline (manual clock).
#include <keel/bulkhead.hpp>
#include <keel/error.hpp>
#include <keel/pipeline.hpp>
#include <keel/prometheus/metrics.hpp>
#include <keel/strategy.hpp>

#include "snapshot.hpp"
#include "support/scripted_op.hpp"
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

namespace keel::test {
namespace {

/// An attempt the test admits by hand.
struct by_hand final : admission_waiter {
    int grants = 0;
    void admitted() noexcept override { ++grants; }
};

bulkhead_settings two_and_two_waiting() {
    bulkhead_settings s;
    s.max_concurrent = 2;
    s.queue = {2, 100ms};
    return s;
}

/// A successful attempt of `duration`, as the engine reports it to release().
attempt_record success(std::chrono::nanoseconds duration = 1ms) {
    attempt_record r;
    r.result = attempt_result::success;
    r.duration = duration;
    return r;
}

/// The three gauges of `dependency`, as a scrape reads them.
struct gauges {
    double in_flight, limit, queued;
    friend bool operator==(const gauges&, const gauges&) = default;
    friend std::ostream& operator<<(std::ostream& out, const gauges& g) {
        return out << "{in_flight " << g.in_flight << ", limit " << g.limit << ", queued "
                   << g.queued << "}";
    }
};

class bulkhead_metrics_test : public ::testing::Test {
protected:
    gauges read(const std::string& dependency = "payments") const {
        const snapshot s(metrics.registry());
        const labels dep{{"dependency", dependency}};
        return {s.gauge("keel_bulkhead_in_flight", dep), s.gauge("keel_bulkhead_limit", dep),
                s.gauge("keel_bulkhead_queued", dep)};
    }
    /// How many of the three gauges `dependency` has (0 or 3).
    std::size_t gauge_series(const std::string& dependency = "payments") const {
        const snapshot s(metrics.registry());
        const labels dep{{"dependency", dependency}};
        return s.series("keel_bulkhead_in_flight", dep).size() +
               s.series("keel_bulkhead_limit", dep).size() +
               s.series("keel_bulkhead_queued", dep).size();
    }

    keel::prometheus::metrics metrics;
};

TEST_F(bulkhead_metrics_test, the_gauges_follow_the_bulkhead_at_each_scrape) {
    auto b = std::make_shared<bulkhead>(two_and_two_waiting());
    metrics.watch("payments", b);
    EXPECT_EQ(read(), (gauges{0, 2, 0})) << "at zero with the limit from the start";

    by_hand first, second, third;
    const admission a1 = b->admit(clock_ticks{0}, first);
    const admission a2 = b->admit(clock_ticks{0}, second);
    ASSERT_TRUE(a1.admitted && a2.admitted);
    ASSERT_TRUE(b->admit(clock_ticks{0}, third).wait);
    EXPECT_EQ(read(), (gauges{2, 2, 1}));

    const attempt_record done = success();
    b->release(clock_ticks{0}, &done, a1.ticket); // the waiter takes the permit
    ASSERT_EQ(third.grants, 1);
    EXPECT_EQ(read(), (gauges{2, 2, 0}));
    b->release(clock_ticks{0}, &done, a2.ticket);
    b->release(clock_ticks{0}, &done, 0);
    EXPECT_EQ(read(), (gauges{0, 2, 0}));
}

TEST_F(bulkhead_metrics_test, an_adaptive_limit_shows_where_it_stands) {
    bulkhead_settings s;
    s.adaptive.emplace(); // aimd from 20
    auto b = std::make_shared<bulkhead>(s);
    metrics.watch("payments", b);
    EXPECT_EQ(read().limit, 20);
    by_hand waiter;
    const admission a = b->admit(clock_ticks{0}, waiter);
    ASSERT_TRUE(a.admitted);
    attempt_record timed_out;
    timed_out.result = attempt_result::timeout;
    timed_out.fault = fault_class::timeout;
    timed_out.duration = 1s;
    b->release(clock_ticks{0}, &timed_out, a.ticket); // a drop: 20 x 0.9
    EXPECT_EQ(read(), (gauges{0, 18, 0}));
}

TEST_F(bulkhead_metrics_test, a_dependency_without_a_bulkhead_has_no_gauges) {
    metrics.dependency("orders-db");
    EXPECT_EQ(gauge_series("orders-db"), 0u);
    metrics.watch("payments", std::make_shared<bulkhead>(two_and_two_waiting()));
    EXPECT_EQ(gauge_series("orders-db"), 0u) << "each dependency its own";
}

TEST_F(bulkhead_metrics_test, watched_twice_it_counts_once) {
    auto b = std::make_shared<bulkhead>(two_and_two_waiting());
    metrics.watch("payments", b);
    metrics.watch("payments", b);
    metrics.bulkhead_watcher()("payments", b);
    by_hand waiter;
    ASSERT_TRUE(b->admit(clock_ticks{0}, waiter).admitted);
    EXPECT_EQ(read(), (gauges{1, 2, 0})) << "not 3 in flight of 6";
    EXPECT_EQ(gauge_series(), 3u);
    EXPECT_THROW(metrics.watch("payments", std::shared_ptr<bulkhead>()), std::invalid_argument);
}

TEST_F(bulkhead_metrics_test, a_replaced_bulkhead_counts_until_its_attempts_end_then_goes) {
    bulkhead_settings wide = two_and_two_waiting();
    wide.max_concurrent = 5;
    auto old = std::make_shared<bulkhead>(wide);
    metrics.watch("payments", old);
    by_hand on_old;
    const admission held = old->admit(clock_ticks{0}, on_old);
    ASSERT_TRUE(held.admitted);

    auto next = std::make_shared<bulkhead>(two_and_two_waiting()); // a narrower one replaced it
    metrics.watch("payments", next);
    by_hand on_next[2];
    for (by_hand& w : on_next)
        ASSERT_TRUE(next->admit(clock_ticks{0}, w).admitted);
    EXPECT_EQ(read(), (gauges{3, 2, 0}))
        << "both bulkheads' attempts against the new limit (not the larger old one)";

    const attempt_record done = success();
    old->release(clock_ticks{0}, &done, held.ticket);
    old.reset(); // its last attempt ended, nothing holds it
    EXPECT_EQ(read(), (gauges{2, 2, 0}));

    next.reset(); // a reload that took the bulkhead away
    EXPECT_EQ(gauge_series(), 0u) << "no stale limit";
    auto again = std::make_shared<bulkhead>(wide);
    metrics.watch("payments", again);
    EXPECT_EQ(read(), (gauges{0, 5, 0})) << "a later bulkhead gets them back";
}

TEST(bulkhead_metrics_lifetime, the_watcher_keeps_what_it_reports_into) {
    auto b = std::make_shared<bulkhead>(two_and_two_waiting());
    std::function<void(std::string_view, const std::shared_ptr<bulkhead>&)> watcher;
    std::shared_ptr<::prometheus::Registry> registry;
    {
        keel::prometheus::metrics m;
        watcher = m.bulkhead_watcher();
        registry = m.registry();
    }
    watcher("payments", b);
    EXPECT_EQ(snapshot(registry).gauge("keel_bulkhead_limit", {{"dependency", "payments"}}), 2);
}

// ---- the admission-wait histograms ------------------------------------------------------

events::admission_wait waited(admission_stage stage, std::chrono::nanoseconds how_long,
                              std::error_code refusal = {}) {
    return {"payments", 1, stage, how_long, refusal};
}

/// Each bucket's own count (not cumulative), +Inf last.
std::vector<std::uint64_t> per_bucket(const ::prometheus::ClientMetric::Histogram& h) {
    std::vector<std::uint64_t> out;
    std::uint64_t below = 0;
    for (const auto& b : h.bucket) {
        out.push_back(b.cumulative_count - below);
        below = b.cumulative_count;
    }
    return out;
}

class wait_histograms_test : public ::testing::Test {
protected:
    ::prometheus::ClientMetric::Histogram histogram(const std::string& family) const {
        return snapshot(metrics.registry()).histogram(family, {{"dependency", "payments"}});
    }

    keel::prometheus::metrics metrics;
};

TEST_F(wait_histograms_test, both_exist_at_zero_with_the_wait_buckets) {
    metrics.dependency("payments");
    for (const char* family : {"keel_bulkhead_wait_seconds", "keel_rate_limit_wait_seconds"}) {
        const auto h = histogram(family);
        std::vector<double> bounds;
        for (const auto& b : h.bucket)
            bounds.push_back(b.upper_bound);
        std::vector<double> expected = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                        0.025,  0.05,    0.1,    0.25,  0.5,    1};
        EXPECT_EQ(keel::prometheus::default_wait_buckets(), expected);
        expected.push_back(std::numeric_limits<double>::infinity());
        EXPECT_EQ(bounds, expected) << family;
        EXPECT_EQ(h.sample_count, 0u) << family;
    }
}

TEST_F(wait_histograms_test, each_stage_records_into_its_own) {
    const auto payments = metrics.dependency("payments");
    payments.on(waited(admission_stage::bulkhead, 100us)); // le=0.0001: a bound is `le`
    payments.on(waited(admission_stage::bulkhead, 101us)); // le=0.00025
    payments.on(waited(admission_stage::bulkhead, 100ms,   // a queue timeout: counted too
                       make_error_code(errc::bulkhead_timeout)));
    payments.on(waited(admission_stage::bulkhead, 3s));       // +Inf
    payments.on(waited(admission_stage::rate_limiter, 20ms)); // le=0.025
    payments.on(waited(admission_stage::breaker, 5ms));       // no histogram of its own

    const auto bulkhead = histogram("keel_bulkhead_wait_seconds");
    EXPECT_EQ(per_bucket(bulkhead),
              (std::vector<std::uint64_t>{1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1}));
    EXPECT_EQ(bulkhead.sample_count, 4u);
    EXPECT_NEAR(bulkhead.sample_sum, 0.0001 + 0.000101 + 0.1 + 3, 1e-12);

    const auto rate = histogram("keel_rate_limit_wait_seconds");
    EXPECT_EQ(per_bucket(rate),
              (std::vector<std::uint64_t>{0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0}));
    EXPECT_EQ(rate.sample_count, 1u);
    EXPECT_NEAR(rate.sample_sum, 0.02, 1e-12);

    // Published again with nothing new: the same counts, not twice them.
    EXPECT_EQ(histogram("keel_bulkhead_wait_seconds").sample_count, 4u);
}

TEST_F(wait_histograms_test, the_runtime_observer_records_the_same) {
    auto observer = metrics.observer_for("payments");
    observer->on(waited(admission_stage::rate_limiter, 150ms));
    metrics.observer_factory()("payments")->on(waited(admission_stage::bulkhead, 2ms));
    EXPECT_EQ(histogram("keel_rate_limit_wait_seconds").sample_count, 1u);
    EXPECT_NEAR(histogram("keel_rate_limit_wait_seconds").sample_sum, 0.15, 1e-12);
    EXPECT_EQ(histogram("keel_bulkhead_wait_seconds").sample_count, 1u);
}

TEST(wait_histograms_options, custom_and_bad_buckets) {
    keel::prometheus::metrics_options o;
    o.wait_buckets = {0.001, 0.01};
    keel::prometheus::metrics m(o);
    m.dependency("payments").on(waited(admission_stage::bulkhead, 5ms));
    const auto h = snapshot(m.registry())
                       .histogram("keel_bulkhead_wait_seconds", {{"dependency", "payments"}});
    EXPECT_EQ(per_bucket(h), (std::vector<std::uint64_t>{0, 1, 0}));

    o.wait_buckets = {0.01, 0.001};
    EXPECT_THROW(keel::prometheus::metrics{o}, std::invalid_argument);
    o.wait_buckets = {};
    EXPECT_THROW(keel::prometheus::metrics{o}, std::invalid_argument);
}

// ---- a real bulkhead's refusals through a pipeline ------------------------------------------

using chain_pipeline = keel::basic_pipeline<manual_timer, keel::prometheus::dependency_metrics,
                                            asio::any_io_executor, strategy_chain>;

TEST(bulkhead_refusals, full_and_timed_out_are_counted_by_reason) {
    manual_clock::reset();
    asio::io_context context;
    keel::prometheus::metrics metrics;
    bulkhead_settings s;
    s.max_concurrent = 1;
    s.queue = {1, 100ms};
    auto b = std::make_shared<bulkhead>(s);
    metrics.watch("payments", b);
    auto chain = std::make_shared<strategy_chain>();
    chain->bulkhead = b;
    pipeline_policy policy;
    policy.retry.max_attempts = 1;
    policy.strategies = chain;
    chain_pipeline p(context, "payments", policy, metrics.dependency("payments"));

    scripted_op op(context, {ok(1, 1s)});
    completion runs, waits, refused;
    p.async_run(std::ref(op), record(runs));
    p.async_run(std::ref(op), record(waits));
    p.async_run(std::ref(op), record(refused));
    context.poll();
    ASSERT_TRUE(refused.done()) << "the queue is full: refused at once";
    EXPECT_EQ(refused.ec, make_error_code(errc::bulkhead_full));
    const labels dep{{"dependency", "payments"}};
    snapshot s1(metrics.registry());
    EXPECT_EQ(s1.gauge("keel_bulkhead_in_flight", dep), 1);
    EXPECT_EQ(s1.gauge("keel_bulkhead_queued", dep), 1);

    run_for(context, 2s, [&] { return runs.done() && waits.done(); });
    ASSERT_TRUE(waits.done());
    EXPECT_EQ(waits.ec, make_error_code(errc::bulkhead_timeout));
    EXPECT_EQ(op.calls(), 1);
    const snapshot s2(metrics.registry());
    EXPECT_EQ(s2.by("keel_rejections_total", "payments", "reason"),
              only({"circuit_open", "bulkhead_full", "bulkhead_timeout", "rate_limited",
                    "retry_budget_exhausted", "throttled_locally"},
                   {{"bulkhead_full", 1}, {"bulkhead_timeout", 1}}));
    EXPECT_EQ(s2.counter("keel_calls_total", {{"dependency", "payments"}, {"outcome", "rejected"}}),
              2);
    EXPECT_EQ(s2.gauge("keel_bulkhead_in_flight", dep), 0);
    EXPECT_EQ(s2.gauge("keel_bulkhead_queued", dep), 0);
}

} // namespace
} // namespace keel::test
