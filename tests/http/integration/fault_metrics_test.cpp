// Fault injection with keel::http and keel::prometheus (issue 25): an
// injected http_503 and a real one from the test server leave the same
// metrics -- every series of every keel family, the durations' sample counts
// -- except keel_faults_injected_total, which tells them apart.
#include <keel/circuit_breaker.hpp>
#include <keel/fault_injection.hpp>
#include <keel/http/client.hpp>
#include <keel/pipeline.hpp>
#include <keel/prometheus/metrics.hpp>

#include "harness/http/test_server.hpp"
#include "snapshot.hpp"
#include "support/call.hpp"
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace keel::test {
namespace {

using namespace std::chrono_literals;
namespace kh = keel::http;
using keel::test::http::behaviour;
using keel::test::http::outcome;
using keel::test::http::record;
using keel::test::http::run_until;
using metered_pipeline = basic_pipeline<asio::steady_timer, keel::prometheus::dependency_metrics,
                                        asio::any_io_executor, strategy_chain>;

/// "family{name=value,...}" -> its counter, gauge or histogram sample count
/// (a duration's sum and buckets differ between any two calls).
std::map<std::string, double> series_of(const ::prometheus::Registry& registry) {
    std::map<std::string, double> out;
    for (const auto& family : registry.Collect()) {
        for (const auto& m : family.metric) {
            std::string key = family.name;
            key += '{';
            for (const auto& l : m.label) {
                key += l.name;
                key += '=';
                key += l.value;
                key += ',';
            }
            key += '}';
            switch (family.type) {
            case ::prometheus::MetricType::Counter:
                out[key] = m.counter.value;
                break;
            case ::prometheus::MetricType::Gauge:
                out[key] = m.gauge.value;
                break;
            case ::prometheus::MetricType::Histogram:
                out[key] = static_cast<double>(m.histogram.sample_count);
                break;
            default:
                break;
            }
        }
    }
    return out;
}

class http_fault_metrics : public ::testing::Test {
protected:
    void SetUp() override { enable_fault_injection(true); }
    void TearDown() override { enable_fault_injection(false); }

    /// The series one call of `path` (two attempts, a closed breaker) left
    /// in a fresh registry.
    std::map<std::string, double> metrics_of_call(const std::string& path,
                                                  std::shared_ptr<fault_plan> plan,
                                                  std::error_code& ec) {
        keel::prometheus::metrics metrics;
        metered_pipeline pipeline(
            io, "api",
            keel::test::http::two_attempts_through(
                std::make_shared<circuit_breaker>(circuit_breaker_settings{}), std::move(plan)),
            metrics.dependency("api"));
        outcome out;
        pipeline.async_run<void(std::error_code, kh::response)>(
            keel::test::http::get_each_attempt(client, server.url(path)), record(out));
        run_until(io, out);
        ec = out.ec;
        return series_of(*metrics.registry());
    }

    keel::test::http::test_server server;
    asio::io_context io;
    kh::client client{io.get_executor()};
};

TEST_F(http_fault_metrics, an_injected_503_leaves_the_metrics_a_real_one_does) {
    server.script("/real", {{behaviour::reply, 503}});
    std::error_code real_ec;
    std::map<std::string, double> real = metrics_of_call("/real", nullptr, real_ec);

    std::string why;
    fault_rule rule;
    rule.kind = fault_kind::error;
    rule.rate = 1.0;
    rule.error_name = "http_503";
    rule.error = *fault_error_from_name("http_503", why);
    auto plan = std::make_shared<fault_plan>(std::vector<fault_rule>{rule});
    std::error_code injected_ec;
    std::map<std::string, double> injected = metrics_of_call("/injected", plan, injected_ec);

    EXPECT_EQ(real_ec, kh::make_status_error(503));
    EXPECT_EQ(injected_ec, real_ec);
    EXPECT_EQ(server.count("/injected"), 0);
    EXPECT_EQ(plan->injected(fault_kind::error), 2u);
    // keel_faults_injected_total is the one family meant to tell them apart
    // (once a plan is watched: keel::prometheus::watch_fault_plans).
    for (auto* series : {&real, &injected})
        for (auto it = series->begin(); it != series->end();)
            it = it->first.rfind("keel_faults_injected_total", 0) == 0 ? series->erase(it)
                                                                       : std::next(it);
    EXPECT_EQ(injected, real);
    EXPECT_EQ(real.at("keel_calls_total{dependency=api,outcome=failure_after_retry,}"), 1);
    EXPECT_EQ(real.at("keel_retries_total{dependency=api,reason=throttled,}"), 1);
}

} // namespace
} // namespace keel::test
