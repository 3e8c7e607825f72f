// keel::prometheus::metrics: the exact value of every series after each kind
// of call, on the manual clock.
#include <keel/error.hpp>
#include <keel/pipeline.hpp>
#include <keel/prometheus/metrics.hpp>

#include "run_call.hpp"
#include "snapshot.hpp"
#include "support/scripted_op.hpp"
#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <atomic>
#include <cmath>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace keel::test {
namespace {

using metered_pipeline = keel::basic_pipeline<manual_timer, keel::prometheus::dependency_metrics>;

const std::vector<std::string> outcomes = {
    "success", "success_after_retry", "failure",  "failure_after_retry",
    "timeout", "cancelled",           "rejected", "fallback"};
const std::vector<std::string> results = {"success", "failure", "timeout"};
const std::vector<std::string> reasons = {"transient", "timeout", "throttled", "permanent",
                                          "rejected"};
const std::vector<std::string> phases = {"connect", "exchange", "total"};

pipeline_policy test_policy() {
    pipeline_policy p;
    p.retry.max_attempts = 3;
    p.retry.backoff.kind = backoff_kind::constant;
    p.retry.backoff.initial = 10ms;
    p.retry.backoff.jitter = jitter_kind::none;
    p.retry.retry_on = {fault_class::transient, fault_class::timeout};
    p.timeout.exchange = 50ms;
    p.timeout.total = 1s;
    return p;
}

class metrics_test : public ::testing::Test {
protected:
    void SetUp() override { manual_clock::reset(); }

    /// Runs one call of `steps` through a pipeline of `dependency` to the end.
    call_report run_call(const std::vector<step>& steps, pipeline_policy policy = test_policy(),
                         const std::string& dependency = "orders-db") {
        metered_pipeline p(context, dependency, policy, metrics.dependency(dependency));
        return run_to_end(context, p, steps);
    }

    snapshot now() const { return snapshot(metrics.registry()); }

    void expect_calls(const counts& c, const std::string& dep = "orders-db") const {
        EXPECT_EQ(now().by("keel_calls_total", dep, "outcome"), only(outcomes, c));
    }
    void expect_attempts(const counts& c, const std::string& dep = "orders-db") const {
        EXPECT_EQ(now().by("keel_attempts_total", dep, "result"), only(results, c));
    }
    void expect_retries(const counts& c, const std::string& dep = "orders-db") const {
        EXPECT_EQ(now().by("keel_retries_total", dep, "reason"), only(reasons, c));
    }
    void expect_timeouts(const counts& c, const std::string& dep = "orders-db") const {
        EXPECT_EQ(now().by("keel_timeouts_total", dep, "phase"), only(phases, c));
    }
    void expect_inflight(double n, const std::string& dep = "orders-db") const {
        EXPECT_EQ(now().gauge("keel_inflight_calls", {{"dependency", dep}}), n);
    }
    /// The histogram's count and sum (seconds).
    void expect_durations(const std::string& family, std::uint64_t count, double sum_seconds,
                          const std::string& dep = "orders-db") const {
        const auto h = now().histogram(family, {{"dependency", dep}});
        EXPECT_EQ(h.sample_count, count) << family;
        EXPECT_NEAR(h.sample_sum, sum_seconds, 1e-12) << family;
    }

    asio::io_context context;
    keel::prometheus::metrics metrics;
};

TEST_F(metrics_test, first_try_success) {
    const call_report r = run_call({ok(7, 3ms)});
    EXPECT_EQ(r.outcome, call_outcome::success);
    expect_calls({{"success", 1}});
    expect_attempts({{"success", 1}});
    expect_retries({});
    expect_timeouts({});
    expect_inflight(0);
    expect_durations("keel_call_duration_seconds", 1, 0.003);
    expect_durations("keel_attempt_duration_seconds", 1, 0.003);
    // 3 ms falls in (2.5ms, 5ms]: cumulative counts step there.
    const auto h = now().histogram("keel_call_duration_seconds", {{"dependency", "orders-db"}});
    for (const auto& b : h.bucket)
        EXPECT_EQ(b.cumulative_count, b.upper_bound >= 0.005 ? 1u : 0u) << "le=" << b.upper_bound;
}

TEST_F(metrics_test, success_after_retries) {
    const std::error_code refused = make_error_code(std::errc::connection_refused);
    const call_report r = run_call({fail(refused, 1ms), fail(refused, 1ms), ok(1, 2ms)});
    EXPECT_EQ(r.outcome, call_outcome::success_after_retry);
    expect_calls({{"success_after_retry", 1}});
    expect_attempts({{"failure", 2}, {"success", 1}});
    expect_retries({{"transient", 2}});
    expect_timeouts({});
    // 1 + 10 (backoff) + 1 + 10 + 2 ms; attempts 1 + 1 + 2 ms.
    expect_durations("keel_call_duration_seconds", 1, 0.024);
    expect_durations("keel_attempt_duration_seconds", 3, 0.004);
    expect_inflight(0);
}

TEST_F(metrics_test, retries_exhausted) {
    const call_report r = run_call({fail(make_error_code(std::errc::connection_reset), 2ms)});
    EXPECT_EQ(r.outcome, call_outcome::failure_after_retry);
    expect_calls({{"failure_after_retry", 1}});
    expect_attempts({{"failure", 3}});
    expect_retries({{"transient", 2}});
    expect_timeouts({});
    expect_durations("keel_call_duration_seconds", 1, 0.026);
    expect_durations("keel_attempt_duration_seconds", 3, 0.006);
}

TEST_F(metrics_test, permanent_error_is_one_failure) {
    const call_report r = run_call({fail(make_error_code(std::errc::invalid_argument), 1ms)});
    EXPECT_EQ(r.outcome, call_outcome::failure);
    expect_calls({{"failure", 1}});
    expect_attempts({{"failure", 1}});
    expect_retries({});
}

TEST_F(metrics_test, a_local_refusal_is_not_retried_by_default) {
    const call_report r = run_call({fail(keel::errc::circuit_open, 1ms)});
    EXPECT_EQ(r.fault, fault_class::rejected);
    expect_attempts({{"failure", 1}});
    expect_retries({});
}

TEST_F(metrics_test, retries_on_a_local_refusal_count_as_rejected) {
    // A policy may list rejected in retry_on (e.g. to wait out a bulkhead).
    pipeline_policy policy = test_policy();
    policy.retry.retry_on.insert(fault_class::rejected);
    const call_report r = run_call({fail(keel::errc::bulkhead_full, 1ms), ok(1, 1ms)}, policy);
    EXPECT_EQ(r.outcome, call_outcome::success_after_retry);
    expect_retries({{"rejected", 1}});
}

TEST_F(metrics_test, connect_timeouts) {
    // The operation enforces its connect deadline itself (as keel's client
    // wrappers do) and says so with errc::connect_timeout.
    const call_report r = run_call({fail(keel::errc::connect_timeout, 20ms)});
    EXPECT_EQ(r.outcome, call_outcome::timeout);
    expect_calls({{"timeout", 1}});
    expect_attempts({{"timeout", 3}});
    expect_retries({{"timeout", 2}});
    expect_timeouts({{"connect", 3}});
    expect_durations("keel_attempt_duration_seconds", 3, 0.060);
}

TEST_F(metrics_test, exchange_timeout_then_success) {
    const call_report r = run_call({hang(), ok(1, 1ms)});
    EXPECT_EQ(r.outcome, call_outcome::success_after_retry);
    expect_calls({{"success_after_retry", 1}});
    expect_attempts({{"timeout", 1}, {"success", 1}});
    expect_retries({{"timeout", 1}});
    expect_timeouts({{"exchange", 1}});
    // 50 ms cut + 10 ms backoff + 1 ms.
    expect_durations("keel_call_duration_seconds", 1, 0.061);
    expect_durations("keel_attempt_duration_seconds", 2, 0.051);
}

TEST_F(metrics_test, exchange_timeouts_exhausted) {
    const call_report r = run_call({hang()});
    EXPECT_EQ(r.outcome, call_outcome::timeout);
    expect_calls({{"timeout", 1}});
    expect_attempts({{"timeout", 3}});
    expect_retries({{"timeout", 2}});
    expect_timeouts({{"exchange", 3}});
}

TEST_F(metrics_test, total_deadline) {
    pipeline_policy policy = test_policy();
    policy.timeout.exchange = unlimited;
    policy.timeout.total = 100ms;
    const call_report r = run_call({hang()}, policy);
    EXPECT_EQ(r.outcome, call_outcome::timeout);
    expect_calls({{"timeout", 1}});
    expect_attempts({{"timeout", 1}});
    expect_retries({});
    expect_timeouts({{"total", 1}});
    expect_durations("keel_call_duration_seconds", 1, 0.100);
}

TEST_F(metrics_test, cancelled_call_and_inflight) {
    metered_pipeline p(context, "orders-db", test_policy(), metrics.dependency("orders-db"));
    scripted_op op(context, {hang()});
    asio::cancellation_signal cancel;
    int done = 0;
    p.async_run(op,
                asio::bind_cancellation_slot(cancel.slot(), [&](std::error_code, int) { ++done; }));
    p.async_run(op, [&](std::error_code, int) { ++done; });
    run_for(context, 5ms);
    expect_inflight(2); // both calls are running
    cancel.emit(asio::cancellation_type::terminal);
    run_for(context, 1s, [&] { return done == 2; });
    ASSERT_EQ(done, 2);
    expect_inflight(0);
    // One cancelled after 5 ms; the other timed out three times.
    expect_calls({{"cancelled", 1}, {"timeout", 1}});
    // A cancelled attempt counts as failed: it did not succeed and no
    // deadline cut it.
    expect_attempts({{"failure", 1}, {"timeout", 3}});
    expect_retries({{"timeout", 2}});
    expect_timeouts({{"exchange", 3}});
}

TEST_F(metrics_test, dependencies_have_their_own_series) {
    run_call({ok(1)}, test_policy(), "orders-db");
    run_call({fail(make_error_code(std::errc::invalid_argument))}, test_policy(), "payments-http");
    run_call({ok(1)}, test_policy(), "orders-db");
    expect_calls({{"success", 2}}, "orders-db");
    expect_calls({{"failure", 1}}, "payments-http");
    expect_inflight(0, "payments-http");
}

TEST_F(metrics_test, every_label_value_exists_from_the_start) {
    metrics.dependency("events-kafka");
    const snapshot s = now();
    const labels dep{{"dependency", "events-kafka"}};
    EXPECT_EQ(s.series("keel_calls_total", dep).size(), outcomes.size());
    EXPECT_EQ(s.series("keel_attempts_total", dep).size(), results.size());
    EXPECT_EQ(s.series("keel_retries_total", dep).size(), reasons.size());
    EXPECT_EQ(s.series("keel_timeouts_total", dep).size(), phases.size());
    EXPECT_EQ(s.series("keel_rejections_total", dep).size(), 6u); // keel's local refusals
    EXPECT_EQ(s.series("keel_call_duration_seconds", dep).size(), 1u);
    EXPECT_EQ(s.series("keel_attempt_duration_seconds", dep).size(), 1u);
    EXPECT_EQ(s.series("keel_inflight_calls", dep).size(), 1u);
    EXPECT_EQ(s.series("keel_bulkhead_wait_seconds", dep).size(), 1u);
    EXPECT_EQ(s.series("keel_rate_limit_wait_seconds", dep).size(), 1u);
    // Reloads have no dependency label and both results from the start.
    EXPECT_EQ(s.series("keel_config_reloads_total").size(), 2u);
    // Asking again makes nothing new.
    metrics.dependency("events-kafka");
    EXPECT_EQ(now().series("keel_calls_total").size(), outcomes.size());
}

TEST_F(metrics_test, default_buckets) {
    metrics.dependency("d");
    const auto h = now().histogram("keel_attempt_duration_seconds", {{"dependency", "d"}});
    std::vector<double> bounds;
    for (const auto& b : h.bucket)
        bounds.push_back(b.upper_bound);
    std::vector<double> expected = keel::prometheus::default_duration_buckets();
    expected.push_back(std::numeric_limits<double>::infinity());
    EXPECT_EQ(bounds, expected);
}

TEST_F(metrics_test, counts_reloads) {
    metrics.count_reload(true);
    metrics.count_reload(false);
    metrics.count_reload(false);
    auto count = metrics.reload_counter();
    count(true);
    const snapshot s = now();
    EXPECT_EQ(s.counter("keel_config_reloads_total", {{"result", "success"}}), 2);
    EXPECT_EQ(s.counter("keel_config_reloads_total", {{"result", "error"}}), 2);
}

TEST_F(metrics_test, runtime_observer_records_the_same) {
    keel::basic_pipeline<manual_timer, keel::shared_observer> p(
        context, "orders-db", test_policy(),
        keel::shared_observer(metrics.observer_for("orders-db")));
    scripted_op op(context, {fail(make_error_code(std::errc::connection_refused), 1ms), ok(1)});
    bool done = false;
    p.async_run(op, [&](std::error_code, int) { done = true; });
    run_for(context, 1s, [&] { return done; });
    ASSERT_TRUE(done);
    expect_calls({{"success_after_retry", 1}});
    expect_attempts({{"failure", 1}, {"success", 1}});
    expect_retries({{"transient", 1}});
    // And through the factory a config registry uses.
    auto observer = metrics.observer_factory()("orders-db");
    observer->on(events::call_start{"orders-db"});
    expect_inflight(1);
}

TEST(metrics_registry, records_into_the_users_registry) {
    auto registry = std::make_shared<::prometheus::Registry>();
    auto& own =
        ::prometheus::BuildCounter().Name("service_requests_total").Help("h").Register(*registry);
    own.Add({}).Increment();
    keel::prometheus::metrics a(registry);
    keel::prometheus::metrics b(registry); // a second one merges into the same families
    EXPECT_EQ(a.registry(), registry);
    a.dependency("orders-db").on(events::call_end{"orders-db", call_outcome::success, 1, {}, 1ms});
    b.dependency("orders-db").on(events::call_end{"orders-db", call_outcome::success, 1, {}, 1ms});
    // A registry of the user's cannot publish when collected: counts reach it
    // on publish() (or every publish_interval, or before an exposer scrape).
    EXPECT_EQ(snapshot(registry).counter("keel_calls_total",
                                         {{"dependency", "orders-db"}, {"outcome", "success"}}),
              0);
    a.publish();
    b.publish(); // each publishes what its own observers recorded
    const snapshot s(registry);
    EXPECT_EQ(s.counter("keel_calls_total", {{"dependency", "orders-db"}, {"outcome", "success"}}),
              2);
    EXPECT_EQ(s.counter("service_requests_total", {}), 1);
}

TEST(metrics_registry, observers_outlive_the_metrics_object) {
    std::optional<keel::prometheus::dependency_metrics> kept;
    std::weak_ptr<::prometheus::Registry> registry;
    {
        keel::prometheus::metrics m;
        registry = m.registry();
        kept = m.dependency("d");
    }
    ASSERT_FALSE(registry.expired());
    kept->on(events::call_start{"d"});
    EXPECT_EQ(snapshot(registry.lock()).gauge("keel_inflight_calls", {{"dependency", "d"}}), 1);
    EXPECT_EQ(kept->dependency(), "d");
}

TEST(metrics_registry, conflicting_family_is_refused) {
    auto registry = std::make_shared<::prometheus::Registry>();
    // The same name as another type: prometheus-cpp refuses to merge them.
    ::prometheus::BuildGauge().Name("keel_calls_total").Help("someone else's").Register(*registry);
    EXPECT_THROW(keel::prometheus::metrics{registry}, std::invalid_argument);
}

TEST(metrics_registry, bad_buckets_are_refused) {
    const auto refuses = [](std::vector<double> call, const std::string& says) {
        keel::prometheus::metrics_options o;
        o.call_duration_buckets = std::move(call);
        try {
            keel::prometheus::metrics m(o);
            ADD_FAILURE() << "accepted buckets; expected: " << says;
        } catch (const std::invalid_argument& e) {
            EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
        }
    };
    refuses({}, "call duration buckets are empty");
    refuses({0.1, 0.05}, "strictly increasing (bucket 1)");
    refuses({0.1, 0.1}, "strictly increasing");
    refuses({-1}, "positive and finite");
    refuses({0}, "positive and finite");
    refuses({std::nan("")}, "positive and finite");
    refuses({0.1, std::numeric_limits<double>::infinity()}, "positive and finite");
    EXPECT_THROW(keel::prometheus::metrics(nullptr), std::invalid_argument);
}

TEST(metrics_registry, custom_buckets) {
    keel::prometheus::metrics_options o;
    o.call_duration_buckets = {0.01, 0.1};
    o.attempt_duration_buckets = {0.5};
    keel::prometheus::metrics m(o);
    m.dependency("d").on(events::call_end{"d", call_outcome::success, 1, {}, 20ms});
    const snapshot s(m.registry());
    const auto call = s.histogram("keel_call_duration_seconds", {{"dependency", "d"}});
    ASSERT_EQ(call.bucket.size(), 3u);
    EXPECT_EQ(call.bucket[0].cumulative_count, 0u); // le=0.01
    EXPECT_EQ(call.bucket[1].cumulative_count, 1u); // le=0.1
    EXPECT_EQ(call.bucket[2].cumulative_count, 1u); // le=+Inf
    EXPECT_EQ(s.histogram("keel_attempt_duration_seconds", {{"dependency", "d"}}).bucket.size(),
              2u);
}

} // namespace
} // namespace keel::test

namespace keel::test {
namespace {

void record_success(const keel::prometheus::dependency_metrics& m, std::chrono::nanoseconds d) {
    m.on(events::call_start{"d"});
    m.on(events::attempt_end{"d", 1, attempt_result::success, {}, fault_class::transient, d});
    m.on(events::call_end{"d", call_outcome::success, 1, {}, d});
}

// Each thread records into its own cells; a scrape sums them. Many threads
// at once (more than have cells of their own: the rest share atomically),
// threads that come and go (their cells are reused), and scrapes running
// meanwhile: the totals are exact and the in-flight gauge never negative.
TEST(metrics_threads, counts_from_many_threads_are_exact) {
    keel::prometheus::metrics metrics;
    const auto d = metrics.dependency("d");
    constexpr int concurrent = 80; // more than the 64 threads with cells of their own
    constexpr int per_thread = 500;
    std::atomic<int> ready{0};
    std::atomic<bool> scraping{true};
    std::thread scraper([&] {
        while (scraping.load()) {
            const snapshot s(metrics.registry());
            EXPECT_GE(s.gauge("keel_inflight_calls", {{"dependency", "d"}}), 0);
        }
    });
    std::vector<std::thread> threads;
    for (int t = 0; t < concurrent; ++t)
        threads.emplace_back([&] {
            // All alive at once, so some threads must share.
            ready.fetch_add(1);
            while (ready.load() < concurrent)
                std::this_thread::yield();
            for (int i = 0; i < per_thread; ++i)
                record_success(d, std::chrono::microseconds(500));
        });
    for (auto& t : threads)
        t.join();
    // Short-lived threads, one after another: each takes a freed slot.
    for (int t = 0; t < 100; ++t)
        std::thread([&] { record_success(d, std::chrono::milliseconds(2)); }).join();
    scraping = false;
    scraper.join();

    const snapshot s(metrics.registry());
    const double expected = concurrent * per_thread + 100;
    EXPECT_EQ(s.counter("keel_calls_total", {{"dependency", "d"}, {"outcome", "success"}}),
              expected);
    EXPECT_EQ(s.counter("keel_attempts_total", {{"dependency", "d"}, {"result", "success"}}),
              expected);
    EXPECT_EQ(s.gauge("keel_inflight_calls", {{"dependency", "d"}}), 0);
    const auto h = s.histogram("keel_call_duration_seconds", {{"dependency", "d"}});
    EXPECT_EQ(h.sample_count, static_cast<std::uint64_t>(expected));
    EXPECT_NEAR(h.sample_sum, concurrent * per_thread * 0.0005 + 100 * 0.002, 1e-6);
    // 0.5 ms lands in le=0.001, 2 ms in le=0.0025.
    EXPECT_EQ(h.bucket[0].cumulative_count, static_cast<std::uint64_t>(concurrent * per_thread));
    EXPECT_EQ(h.bucket[1].cumulative_count, static_cast<std::uint64_t>(expected));
}

TEST(metrics_threads, users_registry_is_published_periodically) {
    auto registry = std::make_shared<::prometheus::Registry>();
    keel::prometheus::metrics_options options;
    options.publish_interval = std::chrono::milliseconds(10);
    keel::prometheus::metrics metrics(registry, options);
    record_success(metrics.dependency("d"), 1ms);
    // No manual clock here: this is keel's own publishing thread. Wait for
    // it (bounded), rather than assume a time.
    double seen = 0;
    for (int i = 0; i < 2000 && seen == 0; ++i) {
        seen = snapshot(registry).counter("keel_calls_total",
                                          {{"dependency", "d"}, {"outcome", "success"}});
        if (seen == 0)
            std::this_thread::sleep_for(1ms);
    }
    EXPECT_EQ(seen, 1);
}

} // namespace
} // namespace keel::test
